"""The analysis flow: snapshot -> quality -> identify -> overlap -> estimate -> refute -> record.

Only wiring: every step is a plain function in tasks/, wrapped here as a Prefect task.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from whyflow.threads import pin_threads

pin_threads()

from tasks.estimate import effects as estimate_step  # noqa: E402  (after the thread pinning)
from tasks.estimate.agreement import estimator_agreement  # noqa: E402
from tasks.graph import model as graph_step  # noqa: E402
from tasks.evidence import sensitivity as sensitivity_step  # noqa: E402
from tasks.graph import implications as graph_tests  # noqa: E402
from tasks.identify import effect as identify
from tasks.evidence import overlap
from tasks.data import quality
from tasks.record import run as record
from tasks.evidence import refute
from tasks.data import snapshot
from tasks.data import validate
from whyflow.errors import GateFailed  # noqa: E402
from flows.artifacts import publish_run  # noqa: E402
from flows.retry import retry_options  # noqa: E402
from flows.snapshot_cache import cached_snapshot  # noqa: E402
from whyflow.parallel import default_workers, warm_up  # noqa: E402
from whyflow.spec import load_spec  # noqa: E402
from flows.stream_analysis import stream_analysis  # noqa: E402
from tasks.scale.source import choose_engine  # noqa: E402
from whyflow.threads import single_threaded  # noqa: E402

__all__ = ["analysis"]


def _task(fn, name: str, **options):
    # Frames are passed in memory; hashing them for Prefect's cache would cost more than the step.
    return task(fn, name=name, cache_policy=NO_CACHE, **options)


load_spec_t = _task(load_spec, "spec")
plan_engine_t = _task(choose_engine, "choose-engine")
resolve_estimators_t = _task(estimate_step.resolve_estimators, "resolve-estimators")
select_estimators_t = _task(estimate_step.select_estimators, "select-estimators")
load_graph_t = _task(graph_step.load_graph, "graph")
read_source_t = _task(snapshot.read_source, "read-source")
validate_t = _task(validate.validate_inputs, "validate-inputs")
identify_t = _task(identify.identify_effect, "identify")
graph_tests_t = _task(graph_tests.test_graph_implications, "graph-tests")
snapshot_t = _task(snapshot.snapshot_data, "snapshot")
snapshot_file_t = _task(snapshot.snapshot_file, "snapshot-file")
versions_t = _task(record.run_versions, "versions")
start_tracking_t = _task(record.start_tracking, "start-tracking", **retry_options())  # MLflow I/O: transient retries
quality_t = _task(quality.check_quality, "quality")
causal_data_t = _task(estimate_step.causal_data, "design")
overlap_t = _task(overlap.check_overlap, "overlap")
estimate_t = _task(estimate_step.estimate_effects, "estimate")
naive_t = _task(estimate_step.naive_difference, "naive-difference")
cate_t = _task(estimate_step.cate_by_segment, "cate-by-segment")
agreement_t = _task(estimator_agreement, "agreement")
refute_t = _task(refute.refute_estimates, "refute")
sensitivity_t = _task(sensitivity_step.analyse_sensitivity, "sensitivity")
record_failure_t = _task(record.record_failure, "record-failure", **retry_options())
record_t = _task(record.record_run, "record", **retry_options())


@flow(name="analysis", log_prints=False)
def analysis(analysis: str, params_file: str = "params.yaml", overrides: dict[str, Any] | None = None,
             snapshot: str | None = None) -> dict:
    """Run one analysis of params.yaml end to end and log it to MLflow; returns the run summary.
    With `snapshot` (a Parquet file, e.g. fetched from DVC) that exact file replaces the source."""
    spec = load_spec_t(params_file, analysis, overrides or {})
    plan = plan_engine_t(spec)  # memory, or stream/dask for a dataset beyond memory_budget_gb
    if plan.kind != "memory" and not snapshot:
        return stream_analysis(spec, plan, load_graph_t(spec))
    warm_up(spec.workers or default_workers())
    names = resolve_estimators_t(spec)
    graph = load_graph_t(spec)
    stored = snapshot_file_t(snapshot, spec) if snapshot else None
    frame = stored.frame if stored else read_source_t(spec)
    validate_t(frame, spec, graph)
    identification = identify_t(graph, spec)
    sensitivity_step.check_benchmark(spec, identification)  # a bad benchmark is exit 2 before any run
    selection = select_estimators_t(spec, identification)  # the design decides the default set
    names = selection["estimators"]
    snap = stored or cached_snapshot(frame, spec)  # an unchanged source is not snapshotted twice
    versions = versions_t(spec, snap, graph)
    run_id = start_tracking_t(spec, versions, snap, graph)
    with record.tracked_run(spec, run_id), single_threaded():
        adjusted = identification.backdoor if identification.backdoor is not None else identification.iv_controls
        covariates = [*(adjusted or []), *spec.effect_modifiers]
        checked = quality_t(snap.frame, spec, covariates)
        partial = {"quality": checked.to_json() | {"validation": None}, "identification": identification.to_json()}
        if not checked.success:
            record_failure_t(spec, run_id, partial)
            raise GateFailed(checked.reason)
        tested = graph_tests_t(graph, snap.frame, spec)  # the graph's implied independences vs the snapshot
        partial["graph_tests"] = tested.to_json()
        graph_gate = graph_tests.graph_gate_failure(tested, spec.gates)
        if graph_gate:
            record_failure_t(spec, run_id, partial)
            raise GateFailed(graph_gate)
        data = causal_data_t(snap.frame, spec, identification)
        balance = None
        # overlap is a back-door diagnostic; a sharp RD has none by construction
        if spec.treatment_type == "binary" and data.backdoor_identified and selection["design"] != "rdd":
            balance = overlap_t(data, spec.estimand, spec.overlap, spec.seed)
            failures = overlap.overlap_failures(balance, spec.gates)
            if failures and selection["design"] == "backdoor":  # IV does not rest on overlap; reported only
                record_failure_t(spec, run_id, partial | {"overlap": balance.to_json()})
                raise GateFailed("overlap gate failed: " + "; ".join(failures))
            if balance.trimmed_units:  # the trimming rule's sample is what every estimator sees
                data = data.subset(balance.keep)
        estimates = estimate_t(data, spec, names)
        naive = naive_t(data)
        refutations = refute_t(data, estimates, spec.refuters, seed=spec.seed, simulations=spec.refute_simulations,
                               workers=spec.workers or default_workers(),
                               options={n: estimate_step.estimator_options(spec, n) for n in names})
        sensitivity = (sensitivity_t(data, estimates, spec.sensitivity.benchmark, tuple(spec.sensitivity.multiples))
                       if data.backdoor_identified and selection["design"] != "rdd" else None)
        outcome = record_t(spec, run_id, versions=versions, quality=checked, identification=identification,
                           overlap=balance, estimates=estimates, naive=naive, refutations=refutations,
                           cate=cate_t(estimates, data), graph=graph, graph_tests=tested, selection=selection,
                           agreement=agreement_t(estimates), sensitivity=sensitivity)
    publish_run(spec.base_dir, spec.name, outcome.run_id, outcome.results, str(outcome.results_dir))
    return {"run_id": outcome.run_id, "results_dir": str(outcome.results_dir), "results": outcome.results}
