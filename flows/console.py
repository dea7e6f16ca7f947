"""What the CLI prints: the run summary table and its verdict lines, and quiet logs for whyflow's
own errors. Shared by every command that runs analyses (flows/cli.py, flows/cli_ops.py)."""

from __future__ import annotations

import logging

from whyflow.format import number

__all__ = ["summary_rows", "print_summary", "quiet_expected_errors"]


def summary_rows(results: dict) -> list[list[str]]:
    rows = []
    for e in results["estimates"]:
        ci = f"[{number(e['ci_low'])}, {number(e['ci_high'])}]" if e["status"] == "ok" else ""
        status = e["status"] if not e["error"] else f"{e['status']}: {e['error']}"
        if not e["error"] and (e.get("details") or {}).get("warning"):  # e.g. a weak instrument
            status = f"{status}; {e['details']['warning']}"
        rows.append([e["estimator"], e["estimand"].upper(), number(e["ate"]), ci, number(e["p_value"], 3),
                     f"{e['n']:,}", f"{e['seconds']:.2f}", status[:90]])
    naive = results["naive"]
    rows.append(["naive difference", "-", number(naive["ate"]), f"[{number(naive['ci_low'])}, {number(naive['ci_high'])}]",
                 number(naive["p_value"], 3), f"{naive['n']:,}", "", "unadjusted"])
    truth = results.get("truth")
    estimand = results["spec"]["estimand"]
    if truth and truth.get(estimand) is not None:
        rows.append(["known truth", estimand.upper(), number(float(truth[estimand])), "", "", "", "", "from the generator"])
    return rows


def print_summary(results: dict, run_id: str, results_dir: str) -> None:
    from rich.console import Console
    from rich.table import Table

    spec = results["spec"]
    console = Console(width=max(Console().width, 120))
    answer = results.get("answer")
    if answer:
        console.print(f"answer: {answer['estimand'].upper()} of {spec['treatment']} on {spec['outcome']} = "
                      f"{number(answer['estimate'])} [{number(answer['ci_low'])}, {number(answer['ci_high'])}] "
                      f"({answer['estimator']}; {answer['why']})")
    else:
        console.print("answer: none (no estimator succeeded; see the table)")
    decision = results.get("decision")
    if decision:
        console.print(f"what to do: {decision['recommendation']}")
    table = Table(title=f"{spec['name']}: effect of {spec['treatment']} on {spec['outcome']}")
    for header in ("estimator", "estimand", "estimate", "95% CI", "p", "n", "seconds", "status"):
        table.add_column(header, justify="left" if header in ("estimator", "status", "95% CI") else "right")
    for row in summary_rows(results):
        table.add_row(*row)
    console.print(table)
    selection = results.get("selection")
    if selection and selection.get("source") == "recommended":
        console.print(f"estimators recommended for the {selection['design']} design: {selection['reason']}")
    if results["refutations"]:
        from tasks.evidence.evidence_summary import evidence_lines

        headline = (answer or {}).get("estimator")
        lines = evidence_lines(results["refutations"])  # the headline estimator's checks first
        for line in sorted(lines, key=lambda line: not line.startswith(f"{headline}:")):
            console.print(f"checks: {line}")
    else:
        console.print("checks: refutation not run")
    overlap = results.get("overlap")
    if overlap:
        console.print(f"overlap: common support {overlap['common_support']:.3f}, max |SMD| "
                      f"{overlap['max_smd_before']:.3f} before -> {overlap['max_smd_after']:.3f} after weighting"
                      + (f"; trimmed {overlap['trimmed_units']:,} units ({overlap['trim']})"
                         if overlap.get("trimmed_units") else ""))
    ols = (results.get("sensitivity") or {}).get("ols")
    if ols:
        evalues = [r["evalue"] for r in results["sensitivity"]["per_estimator"].values() if r.get("evalue")]
        console.print(f"sensitivity: RV_q=1 {100 * ols['rv_q1']:.1f}%, RV_q=1,alpha=0.05 {100 * ols['rv_q1_alpha05']:.1f}%"
                      + (f", E-values {min(evalues):.3g}-{max(evalues):.3g}" if evalues else ""))
    for name, e in ((results.get("mediation") or {}).get("estimators") or {}).items():
        if e.get("status") == "ok":
            console.print(f"mediation ({name}): " + ", ".join(
                f"{part.upper()} {number(e[part]['estimate'])} [{number(e[part]['ci_low'])}, {number(e[part]['ci_high'])}]"
                for part in ("nde", "nie", "total") if e.get(part)))
    preparation = (results.get("quality") or {}).get("preparation")
    if preparation:
        done = "; ".join(preparation["actions"]) or "nothing changed"
        console.print(f"data: {preparation['rows_out']:,} of {preparation['rows_in']:,} rows analysed; {done}")
    nuisance = results.get("nuisance")
    if nuisance:
        how = "chosen by cross-validated loss" if nuisance["source"] == "auto" else "set in the spec"
        console.print(f"nuisance models: {nuisance['outcome']} outcome, {nuisance['propensity']} propensity ({how})")
    for warning in results.get("warnings") or []:
        console.print(f"warning: {warning}")
    console.print(f"report: {results_dir}/report.html (also in the MLflow run's artifacts)")
    print(f"mlflow_run_id={run_id}", flush=True)


class _NoTracebackForExpectedErrors(logging.Filter):
    """Prefect logs a traceback for every failed task; for whyflow's own errors the one-line
    message is the whole story, so the traceback is dropped (kept with --debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from whyflow.errors import WhyflowError

        if record.exc_info and isinstance(record.exc_info[1], WhyflowError):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_expected_errors() -> None:
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logging.getLogger(name).addFilter(_NoTracebackForExpectedErrors())
