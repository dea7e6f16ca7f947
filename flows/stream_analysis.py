"""The analysis flow for data that do not fit in memory: the same steps, streamed, the same MLflow keys.

Called by flows/analysis.py when the preflight's engine is `stream` or `dask`. Steps:
open the dataset (Parquet metadata only; a SQL source is first written to Parquet in chunks) ->
validate the first chunk -> identify -> snapshot (DVC directory hash; cache by hardlinks) -> MLflow
run -> one streaming quality pass + GX on a seeded sample -> graph tests on the sample -> the
streaming estimators, naive difference, overlap and CATE by segment in shared passes
(tasks.estimate.effects.estimate_streamed, the same entry point the tests call) -> record.
Placebo, data subsets and negative-control outcomes are summed in the estimators' own passes and
judged by the in-memory rules; the Cinelli-Hazlett sensitivity comes from the same cross-products
(tasks/scale/evidence.py); plasmode and dummy_outcome run in memory on a seeded subsample
(tasks/scale/bias_sample.py); the other refuters are recorded as not applicable at this scale.
Each step's wall time and peak RSS are returned and logged as `scale.seconds.<step>` metrics.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

from estimators import registry
from estimators.base import CausalData, Estimate, normal_inference
from estimators.streaming.blocks import FrameDesign
from estimators.streaming.arrow import ParallelEngine, RowGroups
from estimators.streaming.engines import DaskEngine, dask_client, iter_frames
from flows import steps as s
from tasks.data.quality import gate_message
from tasks.estimate.answer import choose_answer
from tasks.evidence.overlap import OverlapReport, overlap_failures
from tasks.graph.implications import graph_gate_failure
from tasks.record.result import RunResult
from tasks.record.run import known_truth, tracked_run
from tasks.record.tracking import log_metrics
from tasks.scale.bias_sample import streamed_bias_checks
from tasks.scale.decision import decide_streamed
from tasks.scale.evidence import evidence_request, streamed_refutations, streamed_sensitivity
from tasks.scale.quality import frame_design
from tasks.scale.source import EngineChoice
from whyflow.errors import DataError
from whyflow.parallel import default_workers
from whyflow.spec import AnalysisSpec
from whyflow.threads import single_threaded

__all__ = ["stream_analysis", "StepTimer", "sample_data", "sample_strata"]

log = logging.getLogger(__name__)


class StepTimer:
    """Wall time and peak RSS (VmHWM, reset per step through /proc/self/clear_refs) of each step."""

    def __init__(self):
        self.rows: list[dict] = []

    @staticmethod
    def _peak_mib() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    @contextlib.contextmanager
    def __call__(self, name: str):
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
        started = time.perf_counter()
        yield
        self.rows.append({"step": name, "seconds": round(time.perf_counter() - started, 3),
                          "peak_rss_mib": round(self._peak_mib(), 1)})


@contextlib.contextmanager
def _engine(kind: str, spec: AnalysisSpec, source, design: FrameDesign, groups: RowGroups):
    if kind == "dask":
        address = spec.dask_address or os.environ.get("WHYFLOW_DASK_ADDRESS") or None
        try:
            with dask_client(address, spec.workers or os.cpu_count() or 1, f"analysis '{spec.name}'") as client:
                yield DaskEngine(source, design, client)
        except ConnectionError as exc:
            raise DataError(str(exc)) from None
    else:
        yield ParallelEngine(groups, design, spec.chunk_rows)


def sample_strata(spec: AnalysisSpec, scan) -> tuple | None:
    """Spec `sample` with stratify_by: the column and the full data's (units, treated) per level."""
    if spec.sample is None or not spec.sample.stratify_by:
        return None
    column = spec.sample.stratify_by[0]
    return column, {lv: (scan.strata.get(lv, 0), scan.strata.get(f"{lv}\x00treated", 0))
                    for lv in scan.levels[column]}


def sample_data(design: FrameDesign, sample, treatment_type: str) -> CausalData:
    """The quality scan's seeded sample as CausalData (what `nuisance: auto` is decided on)."""
    block = design.block(sample)
    layout = design.layout
    return CausalData(Y=block.y, T=block.t, covariates=block.W, X=block.X, covariate_names=list(layout.w_names),
                      x_names=list(layout.x_names), treatment_type=treatment_type)


def _naive(result: dict) -> Estimate:
    naive = result["naive"]
    return Estimate("naive", "difference in means", value=naive["value"], std_error=naive["std_error"],
                    **normal_inference(naive["value"], naive["std_error"]), n=result["n"], method=naive["method"])


def stream_analysis(spec: AnalysisSpec, engine: EngineChoice, graph, dataset: str | None = None,
                    overrides: dict | None = None, one_off: bool = False) -> dict:
    """Run one analysis on a large source, streamed; returns the run summary like the in-memory flow.
    `dataset`: a folder of Parquet files that replaces the source (a reproduction's snapshot)."""
    timer = StepTimer()
    with timer("open"):
        if dataset is None and spec.data.sql is not None:
            folder = s.sql_to_parquet_t(spec, spec.chunk_rows)
            spec = spec.model_copy(update={"data": spec.data.model_copy(update={"path": str(folder), "sql": None})})
        where = spec if dataset is None else spec.model_copy(
            update={"data": spec.data.model_copy(update={"path": str(dataset), "sql": None})})
        source = s.open_dataset_t(where)
        first = next(iter_frames(source, list(source.schema), min(spec.chunk_rows, 100_000)))
        s.validate_t(first, spec, graph)  # columns, roles, graph nodes: before any pass over the data
        identification = s.identify_t(graph, spec)
        plan = s.plan_t(spec, identification, engine)
    with timer("snapshot"):
        snap = s.snapshot_dataset_t(source, spec)
        versions = s.versions_t(spec, snap, graph)
        run_id = s.start_tracking_t(spec, versions, snap, graph, overrides)
    workers = (spec.workers or default_workers()) if engine.kind == "stream" else 1
    with tracked_run(spec, run_id), single_threaded(), RowGroups(source, workers) as groups:
        with timer("quality"):
            scan = s.scan_t(source, spec, list(dict.fromkeys([*spec.columns_needed(), *plan.covariates])),
                            groups=groups)
            checked = s.stream_quality_t(scan, spec, plan.covariates)
        partial = {"quality": checked.to_json() | {"validation": None}, "identification": identification.to_json()}
        if not checked.success:
            s.stop_at_gate(spec, run_id, partial, checked.reason)
        warnings = list(checked.warnings)
        with timer("graph-tests"):
            tested = s.graph_tests_t(graph, scan.sample, spec)
        partial["graph_tests"] = tested.to_json()
        if reason := graph_gate_failure(tested, spec.gates):
            s.stop_at_gate(spec, run_id, partial, reason)
        folds = {registry.get(name).Options.parse(plan.options[name]).cv for name in plan.estimators}
        if len(folds) > 1:
            raise DataError(f"analysis '{spec.name}': streaming estimators share one set of folds; "
                            f"their `cv` options differ: {sorted(folds)}")
        design = frame_design(scan, spec, list(plan.adjustment), folds=folds.pop() if folds else 5)
        nuisance = s.nuisance_t(sample_data(design, scan.sample, spec.treatment_type), spec)  # auto: on the sample
        plan = plan.with_nuisance(spec, nuisance.outcome, nuisance.propensity)
        share = float((scan.sample[spec.treatment] == 1).mean()) if len(scan.sample) else 0.5
        evidence = evidence_request(spec, share)  # placebo treatments with the sample's treated share
        started = time.perf_counter()
        with timer("estimate"), _engine(engine.kind, spec, source, design, groups) as blocks:
            estimates, result = s.estimate_streamed_t(blocks, spec, plan.estimators, plan.options, overlap=plan.overlap,
                                                      evidence=evidence, strata=sample_strata(spec, scan))
        seconds = time.perf_counter() - started
        with timer("evidence"):
            refutations = streamed_refutations(result, estimates, spec.refuters, spec.negative_controls.exposures)
            refutations = streamed_bias_checks(refutations, scan.sample, design, estimates, spec.refuters,
                                               seed=spec.seed, simulations=spec.refute_simulations,
                                               workers=workers, options=plan.options)
            aipw = next((e for e in estimates if e.estimator == "stream_aipw" and e.ok), None)
            decision = decide_streamed(spec, result["aipw"], result["n"], aipw.value, aipw.std_error) \
                if spec.decision is not None and aipw is not None else None
            if spec.decision is not None and decision is None:
                warnings.append("decision: the streamed rule needs stream_aipw and a categorical decision feature "
                                "(or a segment); none was available, so no rule was made")
            sensitivity = streamed_sensitivity(result, design.layout.w_names, estimates, spec.treatment_type,
                                               spec.sensitivity.benchmark, tuple(spec.sensitivity.multiples)) \
                if "moments" in result else None
        balance = None
        if "overlap" in result:
            balance = OverlapReport(**result["overlap"], analysed_units=result["n"])
            for gate, observed in overlap_failures(balance, spec.gates):  # no remedy: trimming does not stream
                stop, message = gate_message(spec, gate, observed)
                if stop:
                    s.stop_at_gate(spec, run_id, partial | {"overlap": balance.to_json()}, f"overlap gate failed: {message}")
                warnings.append(message)
        cate = {e.estimator: e.segments for e in estimates if e.segments}
        log.info("streamed %d rows in %d passes (%s engine, %.1f s), refuters and sensitivity in the same passes",
                 result["n"], result["passes"], engine.kind, seconds)
        with timer("record"):
            run = RunResult(analysis=spec.name, versions=versions, spec=spec.content(), quality=checked,
                            identification=identification, estimates=estimates, naive=_naive(result),
                            selection=plan.selection(), truth=known_truth(spec), cate_by_segment=cate, overlap=balance,
                            graph_tests=tested, nuisance=nuisance, warnings=warnings, refutations=refutations,
                            sensitivity=sensitivity, decision=decision, answer=choose_answer(estimates, plan.design, (nuisance.outcome, nuisance.propensity)))
            outcome = s.record_t(spec, run_id, run, graph, one_off)
        log_metrics(spec.base_dir, run_id, {f"scale.seconds.{r['step']}": r["seconds"] for r in timer.rows}
                    | {f"scale.peak_rss_mib.{r['step']}": r["peak_rss_mib"] for r in timer.rows}
                    | {"scale.passes": result["passes"], "scale.rows": result["n"]})
    results = outcome.results | {"scale": {"engine": engine.kind, "passes": result["passes"], "steps": timer.rows,
                                           "sample_rows": len(scan.sample), "files": len(source.files),
                                           "rows": scan.rows, "analysed_rows": result["n"],
                                           "sample": spec.sample.model_dump() if spec.sample else None}}
    return {"run_id": outcome.run_id, "results_dir": str(outcome.results_dir), "results": results}
