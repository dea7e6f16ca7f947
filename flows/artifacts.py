"""Prefect artifacts of a flow run: the markdown summary and links to the MLflow run and report."""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path

from prefect.artifacts import create_link_artifact, create_markdown_artifact

from tasks.report import summary

from tasks.record import tracking

__all__ = ["artifact_key", "run_links", "publish_run", "publish_failure", "publish_reproduction"]

log = logging.getLogger(__name__)


def _optional(publish):
    """Artifacts present a run that is already recorded in MLflow; failing to publish them is
    logged as a warning and does not fail the run."""

    @functools.wraps(publish)
    def wrapper(*args, **kwargs) -> None:
        try:
            publish(*args, **kwargs)
        except Exception as exc:
            log.warning("Prefect artifacts not published: %s: %s", type(exc).__name__, exc)

    return wrapper


def artifact_key(*parts: str) -> str:
    """Prefect keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def run_links(base_dir: Path, run_id: str) -> tuple[str, str]:
    """(MLflow run URL, report URL) for a run in the project's tracking store."""
    ui = summary.mlflow_ui_url(tracking.tracking_uri(base_dir))
    experiment = tracking.client(base_dir).get_run(run_id).info.experiment_id
    return summary.mlflow_run_url(ui, experiment, run_id), summary.mlflow_artifact_url(ui, run_id, "report.html")


@_optional
def publish_run(base_dir: Path, analysis: str, run_id: str, results: dict, results_dir: str) -> None:
    """A markdown summary plus link artifacts to the MLflow run and its HTML report."""
    run_url, report_url = run_links(base_dir, run_id)
    key = artifact_key("whyflow", analysis)
    markdown = summary.run_summary_markdown(results, run_id, run_url, report_url, f"{results_dir}/report.html")
    create_markdown_artifact(markdown, key=f"{key}-summary", description=f"{analysis}: estimates, gates, refutations")
    create_link_artifact(run_url, link_text=f"MLflow run {run_id}", key=f"{key}-mlflow-run",
                         description=f"{analysis}: the MLflow run with every metric and artifact")
    create_link_artifact(report_url, link_text="report.html", key=f"{key}-report",
                         description=f"{analysis}: the self-contained HTML report (served by the MLflow UI)")


@_optional
def publish_failure(base_dir: Path, analysis: str, reason: str, run_id: str | None) -> None:
    run_url = run_links(base_dir, run_id)[0] if run_id else None
    create_markdown_artifact(summary.failure_summary_markdown(analysis, reason, run_id, run_url),
                             key=artifact_key("whyflow", analysis, "summary"), description=f"{analysis}: gate failed")


@_optional
def publish_reproduction(base_dir: Path, report: dict) -> None:
    run_url = run_links(base_dir, report["run_id"])[0]
    create_markdown_artifact(summary.reproduce_summary_markdown(report, run_url), key="whyflow-reproduction",
                             description=f"reproduction of {report['original']}")
    create_link_artifact(run_url, link_text=f"MLflow run {report['run_id']}", key="whyflow-reproduction-mlflow-run")
