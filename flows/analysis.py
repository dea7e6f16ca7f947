"""The analysis flow: spec -> graph -> data -> identify -> plan -> snapshot -> quality -> overlap ->
estimate -> refute -> sensitivity -> record. Only wiring: the plan (tasks/plan.py) decides what runs,
every step is a plain function in tasks/ wrapped once in flows/steps.py."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows import steps as s
from flows.artifacts import publish_run
from flows.snapshot_cache import cached_snapshot
from flows.stream_analysis import stream_analysis
from tasks.estimate.answer import choose_answer, extrapolation_warning, influence_warning, spread_warning
from tasks.evidence.overlap import judge_overlap
from tasks.evidence.sensitivity import check_benchmark
from tasks.graph.implications import graph_gate_failure
from tasks.record.result import RunResult
from tasks.record.run import known_truth, tracked_run
from whyflow.parallel import default_workers, warm_up
from whyflow.threads import single_threaded

__all__ = ["analysis"]


@flow(name="analysis", log_prints=False)
def analysis(analysis: str, params_file: str = "params.yaml", overrides: dict[str, Any] | None = None,
             snapshot: str | None = None, update_results: bool = False) -> dict:
    """Run one analysis of params.yaml end to end and log it to MLflow; returns the run summary.
    With `snapshot` (a Parquet file or a streamed run's dataset folder, as fetched from DVC) that exact
    snapshot replaces the source. A run with overrides is a one-off: its results go to
    results/<analysis>/runs/<run_id>/ unless `update_results` (the DVC-tracked files stay as they are)."""
    one_off = bool(overrides) and not update_results
    spec = s.load_spec_t(params_file, analysis, overrides or {})
    engine = s.preflight_t(spec, snapshot=snapshot)
    graph = s.load_graph_t(spec)
    if engine.kind != "memory":
        return stream_analysis(spec, engine, graph, dataset=snapshot, overrides=overrides, one_off=one_off)
    warm_up(spec.workers or default_workers())
    stored = s.snapshot_file_t(snapshot, spec) if snapshot else None
    frame = stored.frame if stored else s.read_source_t(spec)
    s.validate_t(s.prepare_t(frame, spec, [])[0], spec, graph)  # the roles, on the treatment as mapped
    identification = s.identify_t(graph, spec)
    check_benchmark(spec, identification)  # a bad benchmark is exit 2 before any run
    plan = s.plan_t(spec, identification, engine)
    snap = stored or cached_snapshot(frame, spec)  # the data as delivered; an unchanged source is not stored twice
    analysed, preparation = s.prepare_t(snap.frame, spec, plan.covariates)  # what whyflow does to them, recorded
    plan = plan.without(preparation.unused_columns)
    versions = s.versions_t(spec, snap, graph)
    run_id = s.start_tracking_t(spec, versions, snap, graph, overrides)
    with tracked_run(spec, run_id), single_threaded():
        # quality: the data as delivered, with the treatment mapped and rows without the outcome dropped
        # as the spec asks (covariate nulls stay, for the null-fraction gate)
        checked = s.quality_t(s.prepare_t(snap.frame, spec, [])[0], spec, plan.covariates)
        partial = {"quality": checked.to_json() | {"validation": None}, "identification": identification.to_json()}
        if not checked.success:
            s.stop_at_gate(spec, run_id, partial, checked.reason)
        warnings = [*checked.warnings, *preparation.warnings]  # reported, not stopping
        tested = s.graph_tests_t(graph, analysed, spec)  # the graph's implied independences vs the snapshot
        partial["graph_tests"] = tested.to_json()
        if reason := graph_gate_failure(tested, spec.gates):
            s.stop_at_gate(spec, run_id, partial, reason)
        data = s.causal_data_t(analysed, spec, identification, plan)
        balance = None
        if plan.overlap:
            balance = s.overlap_t(data, spec.estimand, spec.overlap, spec.seed)
            stops, warned = judge_overlap(balance, data, spec)
            if stops and plan.overlap_gate_stops:
                s.stop_at_gate(spec, run_id, partial | {"overlap": balance.to_json()},
                               "overlap gate failed: " + "; ".join(stops))
            warnings += [*stops, *warned]  # an IV design does not rest on overlap: its gates only report
            if balance.trimmed_units:  # the trimming rule's sample is what every estimator sees
                data = data.subset(balance.keep)
        nuisance = None
        if plan.needs_nuisance(spec):  # `auto`: the data choose linear/logistic or LightGBM
            nuisance = s.nuisance_t(data, spec)
            plan = plan.with_nuisance(spec, nuisance.outcome, nuisance.propensity)
        models = (nuisance.outcome, nuisance.propensity) if nuisance else None
        estimates = s.estimate_t(data, spec, plan.estimators, plan.options)
        refutations = s.refute_t(data, estimates, spec.refuters, seed=spec.seed, simulations=spec.refute_simulations,
                                 workers=spec.workers or default_workers(), options=plan.options)
        decision = s.decision_t(data, spec, plan, nuisance, analysed)  # whom to treat, when the spec asks
        mediation = s.mediation_t(analysed, spec, graph, nuisance)  # through which mediators, when declared
        sensitivity = (s.sensitivity_t(data, estimates, spec.sensitivity.benchmark, tuple(spec.sensitivity.multiples))
                       if plan.sensitivity else None)
        answer = choose_answer(estimates, plan.design, models)
        warnings += [w for w in (spread_warning(estimates, plan.design, answer), influence_warning(estimates, answer),
                                 extrapolation_warning(estimates)) if w]
        result = RunResult(analysis=spec.name, versions=versions, spec=spec.content(), quality=checked,
                           identification=identification, estimates=estimates, naive=s.naive_t(data),
                           selection=plan.selection(), truth=known_truth(spec), cate_by_segment=s.cate_t(estimates, data),
                           overlap=balance, refutations=refutations, graph_tests=tested,
                           agreement=s.agreement_t(estimates), sensitivity=sensitivity, nuisance=nuisance,
                           warnings=warnings, decision=decision, preparation=preparation, mediation=mediation,
                           answer=answer)
        outcome = s.record_t(spec, run_id, result, graph, one_off)
    publish_run(spec.base_dir, spec.name, outcome.run_id, outcome.results, str(outcome.results_dir))
    return {"run_id": outcome.run_id, "results_dir": str(outcome.results_dir), "results": outcome.results}
