"""The analysis flow for data that do not fit in memory: the same steps, streamed, the same MLflow keys.

Called by flows/analysis.py when tasks.scale.source.choose_engine picks `stream` or `dask`. Steps:
open the dataset (Parquet metadata only; a SQL source is first written to Parquet in chunks) ->
validate the first chunk -> identify -> snapshot (DVC directory hash; cache by hardlinks) -> MLflow
run -> one streaming quality pass + GX on a seeded sample -> graph tests on the sample -> the
streaming estimators, naive difference, overlap and CATE by segment in shared passes -> record.
Refuters re-estimate many times and are not run at this scale (recorded as skipped in the log).
Each step's wall time and peak RSS are returned and logged as `scale.seconds.<step>` metrics.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from estimators import registry
from estimators.base import Estimate, normal_inference
from estimators.stream_estimators import estimate_from_stream, request_for
from estimators.stream_fit import run_streaming
from estimators.stream_flexible import NUISANCE_SAMPLE_ROWS, is_flexible, run_flexible
from tasks.graph import implications as graph_tests
from tasks.identify import effect as identify
from tasks.record import run as record
from tasks.data import snapshot
from tasks.scale import quality as stream_quality
from tasks.record import tracking
from tasks.data import validate
from tasks.evidence.overlap import OverlapReport, overlap_failures
from tasks.scale.source import EnginePlan, SourceEngine, iter_frames, open_source
from whyflow.errors import GateFailed, SpecError
from whyflow.spec import AnalysisSpec
from whyflow.threads import single_threaded

__all__ = ["stream_analysis", "StepTimer"]

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


def _t(fn, name: str):
    return task(fn, name=name, cache_policy=NO_CACHE)


open_source_t = _t(open_source, "open-dataset")
write_sql_t = _t(snapshot.write_sql_dataset, "sql-to-parquet")
validate_t = _t(validate.validate_inputs, "validate-inputs")
identify_t = _t(identify.identify_effect, "identify")
snapshot_t = _t(snapshot.snapshot_dataset, "snapshot-dataset")
versions_t = _t(record.run_versions, "versions")
start_tracking_t = _t(record.start_tracking, "start-tracking")
scan_t = _t(stream_quality.scan_source, "quality-scan")
quality_t = _t(stream_quality.check_stream_quality, "quality")
graph_tests_t = _t(graph_tests.test_graph_implications, "graph-tests")
record_failure_t = _t(record.record_failure, "record-failure")
record_t = _t(record.record_run, "record")


@contextlib.contextmanager
def _engine(plan: EnginePlan, spec: AnalysisSpec, source, design):
    if plan.kind == "dask":
        from tasks.scale.dask_engine import DaskEngine, dask_client

        with dask_client(spec) as client:
            yield DaskEngine(source, design, client)
    else:
        yield SourceEngine(source, design, spec.chunk_rows)


def _estimate(plan, spec, source, design, timer) -> tuple[dict, list[Estimate], float]:
    binary = spec.treatment_type == "binary"
    request = request_for(plan.estimators, spec.estimand, spec.estimator_options, overlap=binary)
    started = time.perf_counter()
    outcome, propensity = spec.nuisance.outcome, spec.nuisance.propensity
    with timer("estimate"), _engine(plan, spec, source, design) as engine:
        if is_flexible(outcome, propensity):  # nuisances on a seeded subsample, final stage over all rows
            sample_rows = max(int(spec.estimator_options.get(name, {}).get("nuisance_sample_rows",
                                                                            NUISANCE_SAMPLE_ROWS))
                              for name in ("stream_linear_dml", "stream_aipw"))
            result = run_flexible(engine, request, outcome, propensity, spec.seed, sample_rows)
        else:
            result = run_streaming(engine, request)
    seconds = time.perf_counter() - started
    estimates = [estimate_from_stream(name, result, spec.estimand, seconds, registry.get(name).summary)
                 for name in plan.estimators]
    return result, estimates, seconds


def _naive(result: dict) -> Estimate:
    naive = result["naive"]
    return Estimate("naive", "difference in means", value=naive["value"], std_error=naive["std_error"],
                    **normal_inference(naive["value"], naive["std_error"]), n=result["n"], method=naive["method"])


def stream_analysis(spec: AnalysisSpec, plan: EnginePlan, graph) -> dict:
    """Run one analysis on a large source, streamed; returns the run summary like the in-memory flow."""
    timer = StepTimer()
    with timer("open"):
        if spec.data.sql is not None:
            folder = write_sql_t(spec, spec.chunk_rows)
            spec = spec.model_copy(update={"data": spec.data.model_copy(update={"path": str(folder), "sql": None})})
        source = open_source_t(spec)
        first = next(iter_frames(source, list(source.schema), min(spec.chunk_rows, 100_000)))
        validate_t(first, spec, graph)  # columns, roles, graph nodes: before any pass over the data
        identification = identify_t(graph, spec)
    if identification.backdoor is None:
        raise SpecError(f"analysis '{spec.name}': streaming estimates back-door effects; the graph identifies no "
                        "back-door set (use engine: memory for IV, RD or front-door designs)")
    with timer("snapshot"):
        snap = snapshot_t(source, spec)
        versions = versions_t(spec, snap, graph)
        run_id = start_tracking_t(spec, versions, snap, graph)
    with record.tracked_run(spec, run_id), single_threaded():
        covariates = [*identification.backdoor, *spec.effect_modifiers]
        with timer("quality"):
            scan = scan_t(source, spec, list(dict.fromkeys([*spec.columns_needed(), *covariates])))
            checked = quality_t(scan, spec, covariates)
        partial = {"quality": checked.to_json() | {"validation": None}, "identification": identification.to_json()}
        if not checked.success:
            record_failure_t(spec, run_id, partial)
            raise GateFailed(checked.reason)
        with timer("graph-tests"):
            tested = graph_tests_t(graph, scan.sample, spec)
        partial["graph_tests"] = tested.to_json()
        design = stream_quality.frame_design(scan, spec, identification.backdoor,
                                             folds=int(spec.estimator_options.get("stream_linear_dml", {}).get("cv", 5)))
        result, estimates, seconds = _estimate(plan, spec, source, design, timer)
        balance = None
        if "overlap" in result:
            balance = OverlapReport(**result["overlap"], analysed_units=result["n"])
            failures = overlap_failures(balance, spec.gates)
            if failures:
                record_failure_t(spec, run_id, partial | {"overlap": balance.to_json()})
                raise GateFailed("overlap gate failed: " + "; ".join(failures))
        cate = {e.estimator: e.segments for e in estimates if e.segments}
        log.info("streamed %d rows in %d passes (%s engine, %.1f s); refuters are not run at this scale",
                 result["n"], result["passes"], plan.kind, seconds)
        with timer("record"):
            outcome = record_t(spec, run_id, versions=versions, quality=checked, identification=identification,
                               overlap=balance, estimates=estimates, naive=_naive(result), refutations=[],
                               cate=cate, graph=graph, graph_tests=tested,
                               selection={"design": "backdoor", "estimators": plan.estimators,
                                          "reason": f"{plan.kind} engine: {plan.reason}"})
        tracking.log_metrics(spec.base_dir, run_id, {f"scale.seconds.{r['step']}": r["seconds"] for r in timer.rows}
                             | {f"scale.peak_rss_mib.{r['step']}": r["peak_rss_mib"] for r in timer.rows}
                             | {"scale.passes": result["passes"], "scale.rows": result["n"]})
    results = outcome.results | {"scale": {"engine": plan.kind, "passes": result["passes"], "steps": timer.rows,
                                           "sample_rows": len(scan.sample), "files": len(source.files)}}
    return {"run_id": outcome.run_id, "results_dir": str(outcome.results_dir), "results": results}
