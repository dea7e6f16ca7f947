"""Record a run: versions, the results payloads, MLflow metrics and artifacts, results/ files."""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from tasks.report import plots
from tasks.report import html as report
from tasks.record import files as results_io
from tasks.record.metrics import compact_metrics, metrics_of, training_curves
from tasks.record import tracking
from tasks.graph.model import CausalGraph
from tasks.mediation.plot import plot_mediation
from tasks.record.result import RunResult
from tasks.serve.log import log_served_models
from tasks.data.snapshot import Snapshot
from whyflow import constants as C
from whyflow.errors import GateFailed
from whyflow.spec import AnalysisSpec
from whyflow.versions import environment_lines, environment_sha256, git_diff, git_state

__all__ = ["run_versions", "start_tracking", "tracked_run", "record_failure", "record_run", "known_truth",
           "RunOutcome"]

log = logging.getLogger(__name__)
UNIT_EFFECT_ROWS = 1_000_000  # unit_effects.parquet up to this many rows, or when the spec asks


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


def start_tracking(spec: AnalysisSpec, versions: dict[str, Any], snapshot: Snapshot, graph: CausalGraph,
                   overrides: dict[str, Any] | None = None) -> str:
    """Open the MLflow run and log what makes it reproducible before any estimation starts."""
    run_id = tracking.start_run(spec, versions, overrides)
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


def _payloads(results: dict) -> dict[str, Any]:
    return {
        C.RESULT_FILES["estimates"]: {k: results[k] for k in ("analysis", "versions", "estimates", "naive", "truth",
                                                               "cate_by_segment", "survivors", "selection",
                                                               "nuisance", "answer", "warnings")},
        C.RESULT_FILES["quality"]: results["quality"],
        C.RESULT_FILES["overlap"]: results.get("overlap"),
        C.RESULT_FILES["identification"]: results["identification"],
        C.RESULT_FILES["refutation"]: {"refutations": results.get("refutations", []),
                                       "survivors": results.get("survivors", [])},
    } | ({C.RESULT_FILES["graph_tests"]: results["graph_tests"]} if results.get("graph_tests") else {}) \
      | ({C.RESULT_FILES["agreement"]: results["agreement"]} if results.get("agreement") else {}) \
      | ({C.RESULT_FILES["sensitivity"]: results["sensitivity"]} if results.get("sensitivity") else {}) \
      | ({C.RESULT_FILES["decision"]: results["decision"]} if results.get("decision") else {}) \
      | ({C.RESULT_FILES["mediation"]: results["mediation"]} if results.get("mediation") else {})


def record_failure(spec: AnalysisSpec, run_id: str, partial: dict) -> None:
    """A failed gate: log the evidence gathered so far (metrics, JSON) to the kept MLflow run."""
    tracking.log_metrics(spec.base_dir, run_id, metrics_of(partial))
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("quality", "overlap", "identification", "graph_tests"):
            if partial.get(name) is not None:
                results_io.write_json(Path(tmp), C.RESULT_FILES[name], partial[name])
        tracking.log_artifacts(spec.base_dir, run_id, Path(tmp), "results")


def record_run(spec: AnalysisSpec, run_id: str, result: RunResult, graph: CausalGraph,
               one_off: bool = False) -> RunOutcome:
    """Write results files, plots and the report; log them and the metrics to the MLflow run. A one-off
    run (overrides on the command line) writes to results/<analysis>/runs/<run_id>/."""
    results = result.to_json()
    truth, overlap, quality = result.truth, result.overlap, result.quality
    staging = results_io.staging_dir(spec.base_dir, spec.name)
    try:
        for name, payload in _payloads(results).items():
            results_io.write_json(staging, name, payload)
        results_io.write_json(staging, "gx_validation.json", quality.validation)
        results_io.write_json(staging, "metrics.json", compact_metrics(metrics_of(results)))
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
        unit_effects = {f"cate.{e.estimator}": e.cate for e in result.estimates if e.ok and e.cate is not None}
        rows = len(next(iter(unit_effects.values()))) if unit_effects else 0
        if unit_effects and (rows <= UNIT_EFFECT_ROWS or spec.unit_effects):
            pd.DataFrame({"row": np.arange(rows, dtype=np.int64), **unit_effects}).to_parquet(
                staging / C.RESULT_FILES["unit_effects"], index=False)
        curves = {e.estimator: e.details["dose_response"] for e in result.estimates
                  if e.ok and "dose_response" in (e.details or {})}
        if curves:  # continuous treatments: the curve mu(t) with its band, per estimator
            results_io.write_json(staging, C.RESULT_FILES["dose_response"], curves)
            made["dose_response"] = plots.dose_response_plot(curves, figures / "dose_response.png", spec.treatment,
                                                             spec.outcome)
        if result.mediation is not None:
            made["mediation"] = plot_mediation(result.mediation, figures / "mediation.png")
        if result.decision is not None:
            result.decision.report.policy_frame().to_parquet(staging / C.RESULT_FILES["policy"], index=False)
            made |= {path.stem: path for path in result.decision.write_plots(figures, outcome=spec.outcome)}
        report.render_report(results, made, staging / "report.html")
        tracking.log_metrics(spec.base_dir, run_id, metrics_of(results))
        tracking.log_curves(spec.base_dir, run_id, training_curves(results))  # the networks' losses per epoch
        if results["warnings"]:
            tracking.set_tags(spec.base_dir, run_id, {C.TAG_WARNINGS: " | ".join(results["warnings"])[:5000]})
        tracking.log_artifacts(spec.base_dir, run_id, staging)
        log_served_models(spec, run_id, result)  # tasks/serve/: the run as a registered pyfunc; never raises
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    final = results_io.publish(staging, spec.base_dir, spec.name, run_id if one_off else None)
    return RunOutcome(run_id=run_id, results_dir=final, results=results)
