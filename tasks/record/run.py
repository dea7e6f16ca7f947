"""Record a run: versions, the results payloads, MLflow metrics and artifacts, results/ files."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from estimators.base import Estimate
from tasks.report import plots
from tasks.report import html as report
from tasks.record import files as results_io
from tasks.record import tracking
from tasks.graph.model import CausalGraph
from tasks.graph.implications import GraphTestReport
from tasks.identify.effect import Identification
from tasks.evidence.overlap import OverlapReport
from tasks.data.quality import QualityReport
from tasks.evidence.refute import Refutation, survivors
from tasks.evidence.sensitivity import SensitivityReport
from tasks.data.snapshot import Snapshot
from whyflow import constants as C
from whyflow.errors import GateFailed
from whyflow.spec import AnalysisSpec
from whyflow.versions import environment_lines, environment_sha256, git_diff, git_state

__all__ = ["run_versions", "start_tracking", "tracked_run", "record_failure", "record_run", "known_truth",
           "metrics_of", "RunOutcome"]

log = logging.getLogger(__name__)
_BAD_KEY = re.compile(r"[^A-Za-z0-9_\-. :/]")


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    results_dir: Path
    results: dict


def known_truth(spec: AnalysisSpec) -> dict | None:
    """The generator's truth file next to a file source (<stem>.truth.json), when there is one."""
    if spec.data.path is None:
        return None
    path = spec.resolve(spec.data.path)
    truth = path.with_name(f"{path.stem}.truth.json")
    return json.loads(truth.read_text()) if truth.is_file() else None


def run_versions(spec: AnalysisSpec, snapshot: Snapshot, graph: CausalGraph) -> dict[str, Any]:
    commit, dirty = git_state(spec.base_dir)
    return {"analysis": spec.name, "data_md5": snapshot.md5, "data_path": snapshot.source,
            "graph_sha256": graph.sha256, "params_sha256": spec.params_sha256(), "git_commit": commit,
            "git_dirty": dirty, "env_sha256": environment_sha256(), "seed": spec.seed}


def start_tracking(spec: AnalysisSpec, versions: dict[str, Any], snapshot: Snapshot, graph: CausalGraph) -> str:
    """Open the MLflow run and log what makes it reproducible before any estimation starts."""
    run_id = tracking.start_run(spec, versions)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "graph.dot").write_text(graph.to_dot())
        (folder / "environment.txt").write_text("\n".join(environment_lines()) + "\n")
        (folder / "spec.json").write_text(json.dumps(tracking.logged_spec(spec), indent=2, sort_keys=True))
        if versions["git_dirty"] and versions["git_commit"] != "none":
            (folder / "git.diff").write_text(git_diff(spec.base_dir))
        tracking.log_artifacts(spec.base_dir, run_id, folder, "versions")
    tracking.log_dataset(spec.base_dir, run_id, snapshot.frame, name=spec.name, source=snapshot.source,
                         digest=snapshot.md5, outcome=spec.outcome)
    return run_id


@contextlib.contextmanager
def tracked_run(spec: AnalysisSpec, run_id: str) -> Iterator[None]:
    """Close the MLflow run as FINISHED, or FAILED with the reason; the run is always kept."""
    try:
        yield
    except GateFailed as exc:
        exc.run_id = run_id
        tracking.finish_run(spec.base_dir, run_id, "FAILED", str(exc))
        raise
    except BaseException as exc:
        tracking.finish_run(spec.base_dir, run_id, "FAILED", f"{type(exc).__name__}: {exc}")
        raise
    else:
        tracking.finish_run(spec.base_dir, run_id, "FINISHED")


def _key(text: str) -> str:
    return _BAD_KEY.sub("_", text)


def metrics_of(results: dict) -> dict[str, float | None]:
    """MLflow metrics named as in DESIGN.md."""
    metrics: dict[str, float | None] = {}
    for e in results.get("estimates", []):
        name = e["estimator"]
        metrics.update({f"ate.{name}": e["ate"], f"ate_ci_low.{name}": e["ci_low"],
                        f"ate_ci_high.{name}": e["ci_high"], f"p_value.{name}": e["p_value"],
                        f"ate_se.{name}": e["std_error"], f"seconds.{name}": e["seconds"]})
    if results.get("naive"):
        metrics["naive.difference"] = results["naive"]["ate"]
    quality = results.get("quality")
    if quality:
        metrics["quality.success"] = float(quality["success"])
        metrics["quality.failed_expectations"] = float(len(quality["failed"]))
        metrics["quality.rows"] = float(quality["rows"])
        for column, share in quality["null_fractions"].items():
            metrics[_key(f"quality.null_fraction.{column}")] = share
    overlap = results.get("overlap")
    if overlap:
        metrics["overlap.common_support"] = overlap["common_support"]
        metrics["balance.max_smd_before"] = overlap["max_smd_before"]
        metrics["balance.max_smd_after"] = overlap["max_smd_after"]
        for column, value in overlap["smd_after"].items():
            metrics[_key(f"balance.smd_after.{column}")] = value
        metrics.update(_overlap_extras(overlap))
    for r in results.get("refutations", []):
        metrics[f"refute.{r['refuter']}.{r['estimator']}"] = r["p_value"]
        metrics[f"refute_passed.{r['refuter']}.{r['estimator']}"] = None if r["passed"] is None else float(r["passed"])
    for name, row in ((results.get("sensitivity") or {}).get("per_estimator") or {}).items():
        metrics.update({f"sensitivity.evalue.{name}": row.get("evalue"), f"sensitivity.evalue_ci.{name}":
                        row.get("evalue_ci"), f"sensitivity.rv_q1.{name}": row.get("rv_q1"),
                        f"sensitivity.rv_q1_alpha05.{name}": row.get("rv_q1_alpha05")})
    if results.get("identification"):
        metrics["identification.seconds"] = results["identification"]["seconds"]
    if results.get("agreement") and results["agreement"].get("max_z") is not None:
        metrics["agreement.max_z"] = results["agreement"]["max_z"]
        metrics["agreement.disagreeing_pairs"] = float(len(results["agreement"]["disagreeing"]))
    tested = results.get("graph_tests")
    if tested:
        metrics.update({C.METRIC_GRAPH_IMPLIED: tested["implied"], C.METRIC_GRAPH_VIOLATED: tested["violated_share"],
                        C.METRIC_GRAPH_RANDOM_VIOLATED: tested["random_violated_share"],
                        C.METRIC_GRAPH_P_VALUE: tested["p_value"]})
    return {_key(k): v for k, v in metrics.items()}


def _overlap_extras(overlap: dict) -> dict[str, float | None]:
    """Trimming, effective sample sizes, calibration and variance ratios (tasks/overlap.py)."""
    ratios = [v for v in (overlap.get("variance_ratio_after") or {}).values() if v is not None and v > 0]
    extras = {"overlap.trimmed_units": float(overlap.get("trimmed_units", 0)),
              "overlap.ess_treated": overlap["effective_sample_size"]["treated"],
              "overlap.ess_control": overlap["effective_sample_size"]["control"],
              "balance.max_log_variance_ratio_after": max((abs(math.log(v)) for v in ratios), default=None)}
    if overlap.get("calibration"):
        extras |= {"overlap.calibration_ece": overlap["calibration"]["ece"],
                   "overlap.calibration_brier": overlap["calibration"]["brier"]}
    return extras


def _payloads(results: dict) -> dict[str, Any]:
    return {
        C.RESULT_FILES["estimates"]: {k: results[k] for k in ("analysis", "versions", "estimates", "naive", "truth",
                                                               "cate_by_segment", "survivors", "selection")},
        C.RESULT_FILES["quality"]: results["quality"],
        C.RESULT_FILES["overlap"]: results.get("overlap"),
        C.RESULT_FILES["identification"]: results["identification"],
        C.RESULT_FILES["refutation"]: {"refutations": results.get("refutations", []),
                                       "survivors": results.get("survivors", [])},
    } | ({C.RESULT_FILES["graph_tests"]: results["graph_tests"]} if results.get("graph_tests") else {}) \
      | ({C.RESULT_FILES["agreement"]: results["agreement"]} if results.get("agreement") else {}) \
      | ({C.RESULT_FILES["sensitivity"]: results["sensitivity"]} if results.get("sensitivity") else {})


def record_failure(spec: AnalysisSpec, run_id: str, partial: dict) -> None:
    """A failed gate: log the evidence gathered so far (metrics, JSON) to the kept MLflow run."""
    tracking.log_metrics(spec.base_dir, run_id, {_key(k): v for k, v in metrics_of(partial).items()})
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("quality", "overlap", "identification", "graph_tests"):
            if partial.get(name) is not None:
                results_io.write_json(Path(tmp), C.RESULT_FILES[name], partial[name])
        tracking.log_artifacts(spec.base_dir, run_id, Path(tmp), "results")


def record_run(spec: AnalysisSpec, run_id: str, *, versions: dict, quality: QualityReport,
               identification: Identification, overlap: OverlapReport | None, estimates: list[Estimate],
               naive: Estimate, refutations: list[Refutation], cate: dict, graph: CausalGraph,
               graph_tests: GraphTestReport | None = None, selection: dict | None = None,
               agreement: dict | None = None, sensitivity: SensitivityReport | None = None) -> RunOutcome:
    """Write results files, plots and the report; log them and the metrics to the MLflow run."""
    truth = known_truth(spec)
    results = results_io.to_jsonable({
        "analysis": spec.name, "versions": versions, "spec": {**spec.content()},
        "estimates": [e.to_json() for e in estimates], "naive": naive.to_json(), "truth": truth,
        "cate_by_segment": cate, "quality": quality.to_json() | {"validation": None},
        "identification": identification.to_json(), "overlap": overlap.to_json() if overlap else None,
        "refutations": [r.to_json() for r in refutations], "survivors": survivors(estimates, refutations),
        "graph_tests": graph_tests.to_json() if graph_tests else None,
        "selection": selection,  # which estimators ran and why (design, source, reason)
        "agreement": agreement,  # pairwise z of the estimates (tasks/agreement.py)
        "sensitivity": sensitivity.to_json() if sensitivity else None,  # E-values, Cinelli-Hazlett
    })
    staging = results_io.staging_dir(spec.base_dir, spec.name)
    try:
        for name, payload in _payloads(results).items():
            results_io.write_json(staging, name, payload)
        results_io.write_json(staging, "gx_validation.json", quality.validation)
        results_io.write_json(staging, "metrics.json", dict(sorted(metrics_of(results).items())))
        figures = staging / "plots"
        figures.mkdir()
        made = {"forest": plots.forest_plot(
            [{"name": e["estimator"], "value": e["ate"], "ci_low": e["ci_low"], "ci_high": e["ci_high"]}
             for e in results["estimates"]] + [{"name": "naive", **{k: results["naive"][k] for k in ("ci_low", "ci_high")},
                                                "value": results["naive"]["ate"]}],
            figures / "forest.png", (truth or {}).get(spec.estimand), f"effect of {spec.treatment} on {spec.outcome}")}
        if overlap is not None:
            made["propensity"] = plots.propensity_plot(overlap.histogram, figures / "propensity.png", spec.treatment)
            made["balance"] = plots.love_plot(overlap.smd_before, overlap.smd_after,
                                              spec.gates.max_smd_after_weighting, figures / "balance.png",
                                              overlap.variance_ratio_before, overlap.variance_ratio_after)
        made |= report.extra_plots(results, figures, graph)  # graph picture, calibration, sensitivity contour
        report.render_report(results, made, staging / "report.html")
        tracking.log_metrics(spec.base_dir, run_id, metrics_of(results))
        tracking.log_artifacts(spec.base_dir, run_id, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    final = results_io.publish(staging, spec.base_dir, spec.name)
    return RunOutcome(run_id=run_id, results_dir=final, results=results)
