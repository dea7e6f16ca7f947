"""Markdown summaries of runs, for Prefect artifacts: plain text built from the results payload."""

from __future__ import annotations

import math
import os
from typing import Any
from urllib.parse import quote

from whyflow.format import number

__all__ = ["mlflow_ui_url", "mlflow_run_url", "mlflow_artifact_url", "run_summary_markdown",
           "failure_summary_markdown", "reproduce_summary_markdown", "DEFAULT_MLFLOW_UI"]

DEFAULT_MLFLOW_UI = "http://127.0.0.1:5000"  # where `mlflow ui` listens by default


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def mlflow_ui_url(tracking_uri: str, environ: dict[str, str] | None = None) -> str:
    """The MLflow UI behind a tracking URI: the server itself for http(s), else WHYFLOW_MLFLOW_UI
    (default the address `mlflow ui` listens on), since a SQLite file has no web address."""
    environ = os.environ if environ is None else environ
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    return environ.get("WHYFLOW_MLFLOW_UI", DEFAULT_MLFLOW_UI).rstrip("/")


def mlflow_run_url(ui_url: str, experiment_id: str, run_id: str) -> str:
    return f"{ui_url}/#/experiments/{experiment_id}/runs/{run_id}"


def mlflow_artifact_url(ui_url: str, run_id: str, path: str) -> str:
    """The artifact as the MLflow UI serves it (the report opens in the browser from there)."""
    return f"{ui_url}/get-artifact?path={quote(path)}&run_uuid={run_id}"


def _gate_rows(results: dict) -> list[list[Any]]:
    gates = results.get("spec", {}).get("gates", {})
    rows: list[list[Any]] = []
    quality = results.get("quality")
    if quality:
        rows.append(["data quality (GX suite)", "all expectations pass",
                     f"{len(quality['failed'])} failed of {quality['evaluated']}", "pass" if quality["success"] else "FAIL"])
    overlap = results.get("overlap")
    if overlap:
        cs, smd = overlap["common_support"], overlap["max_smd_after"]
        rows.append(["common support", f">= {number(gates.get('min_common_support'))}", number(cs),
                     "pass" if cs >= gates.get("min_common_support", 0.0) else "FAIL"])
        rows.append(["max SMD after weighting", f"<= {number(gates.get('max_smd_after_weighting'))}", number(smd),
                     "pass" if smd <= gates.get("max_smd_after_weighting", math.inf) else "FAIL"])
    tested = results.get("graph_tests")
    if tested:
        floor = gates.get("min_graph_pass_share")
        verdict = "reported" if floor is None else ("pass" if tested["pass_share"] >= floor else "FAIL")
        rows.append(["graph's implied independences", "not gated" if floor is None else f">= {number(floor)}",
                     f"{tested['violated']} of {tested['implied']} rejected", verdict])
    return rows


def run_summary_markdown(results: dict, run_id: str, run_url: str | None = None, report_url: str | None = None,
                         report_path: str | None = None) -> str:
    """Estimates with CIs, gates, refutations and versions of one finished analysis run."""
    spec = results.get("spec", {})
    title = f"# {results['analysis']}: effect of {spec.get('treatment', '?')} on {spec.get('outcome', '?')}"
    lines = [title, ""]
    rows = [[e["estimator"], e["estimand"].upper(), number(e["ate"]),
             f"[{number(e['ci_low'])}, {number(e['ci_high'])}]" if e["status"] == "ok" else "",
             number(e["p_value"], 3), e["status"] if not e.get("error") else f"{e['status']}: {e['error'][:80]}"]
            for e in results.get("estimates", [])]
    naive = results.get("naive")
    if naive:
        rows.append(["naive difference", "-", number(naive["ate"]), f"[{number(naive['ci_low'])}, {number(naive['ci_high'])}]",
                     number(naive["p_value"], 3), "unadjusted"])
    truth = (results.get("truth") or {}).get(spec.get("estimand", "ate"))
    if truth is not None:
        rows.append(["known truth", spec.get("estimand", "ate").upper(), number(float(truth)), "", "", "from the generator"])
    lines += ["## Estimates", "", *_table(["estimator", "estimand", "estimate", "95% CI", "p", "status"], rows), ""]
    lines += ["## Gates", "", *_table(["gate", "threshold", "observed", "verdict"], _gate_rows(results)), ""]
    refutations = results.get("refutations", [])
    if refutations:
        lines += ["## Refutations", "", *_table(
            ["refuter", "estimator", "new effect", "p", "verdict"],
            [[r["refuter"], r["estimator"], number(r.get("new_effect")), number(r["p_value"], 3),
              "survived" if r["passed"] else ("refuted" if r["passed"] is False else r["status"])]
             for r in refutations]), ""]
        lines += [f"Survived every refuter: {', '.join(results.get('survivors', [])) or 'none'}", ""]
    versions = results.get("versions", {})
    lines += ["## Versions", "", *_table(["what", "value"], [[k, number(v)] for k, v in versions.items()]), ""]
    lines += ["## Links", "", *_links(run_id, run_url, report_url, report_path)]
    return "\n".join(lines) + "\n"


def _links(run_id: str, run_url: str | None, report_url: str | None, report_path: str | None) -> list[str]:
    lines = [f"- MLflow run: [{run_id}]({run_url})" if run_url else f"- MLflow run: `{run_id}`"]
    if report_url:
        lines.append(f"- HTML report: [report.html]({report_url})")
    if report_path:
        lines.append(f"- HTML report on the machine that ran it: `{report_path}`")
    return lines


def failure_summary_markdown(analysis: str, reason: str, run_id: str | None, run_url: str | None = None) -> str:
    """A run stopped by a gate: the reason and where the kept MLflow run is."""
    lines = [f"# {analysis}: stopped by a gate", "", f"**{reason}**", ""]
    if run_id:
        lines += ["The MLflow run is kept with status FAILED and the evidence gathered so far.", "",
                  *_links(run_id, run_url, None, None)]
    return "\n".join(lines) + "\n"


def reproduce_summary_markdown(report: dict, run_url: str | None = None) -> str:
    """The outcome of `reproduce`: identical, or which metrics and versions differ."""
    differences = report.get("differences", [])
    verdict = ("reproduced exactly" if not differences else f"{len(differences)} difference(s)")
    lines = [f"# reproduction of {report['original']}: {verdict}", "",
             f"Compared metrics (timings aside): {report.get('compared_metrics', 0)}; "
             f"environment matches: {number(report.get('environment_matches'))}", ""]
    if differences:
        lines += _table(["what", "original", "reproduced"], [[d["key"], d["original"], d["reproduced"]] for d in differences])
        lines.append("")
    for change in report.get("environment_changes", []):
        lines.append(f"- environment differs: {change}")
    lines += _links(report["run_id"], run_url, None, None)
    return "\n".join(lines) + "\n"
