"""The whyflow command line. Heavy libraries are imported inside the commands, so --help is instant."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from whyflow.format import number

__all__ = ["main"]


def _summary_rows(results: dict) -> list[list[str]]:
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


def _print_summary(results: dict, run_id: str, results_dir: str) -> None:
    from rich.console import Console
    from rich.table import Table

    spec = results["spec"]
    table = Table(title=f"{spec['name']}: effect of {spec['treatment']} on {spec['outcome']}")
    for header in ("estimator", "estimand", "estimate", "95% CI", "p", "n", "seconds", "status"):
        table.add_column(header, justify="left" if header in ("estimator", "status", "95% CI") else "right")
    for row in _summary_rows(results):
        table.add_row(*row)
    console = Console(width=max(Console().width, 120))
    console.print(table)
    selection = results.get("selection")
    if selection and selection.get("source") == "recommended":
        console.print(f"estimators recommended for the {selection['design']} design: {selection['reason']}")
    refuted = [f"{r['refuter']}/{r['estimator']}" for r in results["refutations"] if r["passed"] is False]
    failed = [f"{r['refuter']}/{r['estimator']}" for r in results["refutations"] if r["status"] == "failed"]
    if results["refutations"]:
        console.print(f"survived every refuter: {', '.join(results['survivors']) or 'none'}"
                      + (f"; refuted: {', '.join(refuted)}" if refuted else "")
                      + (f"; refuter errors: {', '.join(failed)}" if failed else ""))
    else:
        console.print("refutation: not run")
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


def _quiet_expected_errors() -> None:
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logging.getLogger(name).addFilter(_NoTracebackForExpectedErrors())


def _cmd_run(args: argparse.Namespace) -> int:
    from whyflow.spec import apply_overrides, load_spec

    if args.all or len(args.analysis) != 1:
        from flows.cli_extra import run_many

        return run_many(args, _print_summary, _quiet_expected_errors)
    args.analysis = args.analysis[0]
    spec = load_spec(args.params, args.analysis, args.set)  # bad spec: exit 2 before Prefect starts
    from tasks.plan import preflight

    preflight(spec, snapshot=bool(args.snapshot))  # names, options, engine: exit 2 before Prefect starts
    from flows.analysis import analysis
    from whyflow.errors import GateFailed

    if not args.debug:
        _quiet_expected_errors()

    overrides = apply_overrides({}, args.set)
    try:
        summary = analysis(analysis=args.analysis, params_file=str(args.params), overrides=overrides,
                           snapshot=str(args.snapshot) if args.snapshot else None)
    except GateFailed as exc:
        if exc.run_id:
            print(f"mlflow_run_id={exc.run_id}", flush=True)
        raise
    _print_summary(summary["results"], summary["run_id"], summary["results_dir"])
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from flows.reproduce import reproduce
    from whyflow.errors import ReproductionMismatch

    if not args.debug:
        _quiet_expected_errors()
    report = reproduce(run_id=args.run_id, params_file=str(args.params))
    for change in report["environment_changes"]:
        print(f"warning: environment differs from the logged run: {change}", file=sys.stderr)
    if report["differences"]:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"reproduction {report['run_id']} differs from {report['original']}")
        for header in ("what", "original", "reproduced"):
            table.add_column(header)
        for d in report["differences"]:
            table.add_row(d["key"], d["original"], d["reproduced"])
        Console(width=140).print(table)
        print(f"mlflow_run_id={report['run_id']}", flush=True)
        raise ReproductionMismatch(f"{len(report['differences'])} difference(s) between run {report['original']} "
                                   f"and its reproduction {report['run_id']}")
    print(f"reproduced run {report['original']} exactly: {report['compared_metrics']} metrics identical "
          f"(timings aside), same data md5, graph, params and seed")
    print(f"mlflow_run_id={report['run_id']}", flush=True)
    return 0


def _cmd_estimators(args: argparse.Namespace) -> int:
    from estimators.registry import describe

    rows = describe()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="whyflow estimators")
    for header in ("name", "estimands", "family", "CATE", "streams", "treatment", "requires"):
        table.add_column(header)
    for row in rows:
        table.add_row(row["name"], ", ".join(row["estimands"]), row["family"], "yes" if row["cate"] else "no",
                      "yes" if row["streams"] else "no", ", ".join(row["treatment_types"]),
                      ", ".join(row["requires"]) or "-")
    Console(width=140).print(table)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whyflow", description="Workflow-orchestrated causal-effect experiments.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run one analysis of params.yaml end to end (several, or --all: on Dask)")
    run.add_argument("analysis", nargs="*", help="name(s) of analyses under 'analyses:' in the params file; "
                     "several run concurrently on Dask")
    run.add_argument("--all", action="store_true", help="run every analysis of the params file, concurrently on Dask")
    run.add_argument("--dask-address", metavar="ADDRESS",
                     help="existing Dask scheduler for several analyses (default: $WHYFLOW_DASK_ADDRESS, else a local cluster)")
    run.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override a spec key (dotted, YAML value), e.g. --set gates.min_common_support=0.8")
    run.add_argument("--snapshot", metavar="FILE.parquet",
                     help="run on this exact Parquet snapshot instead of the declared source (stored in DVC too)")
    run.set_defaults(handler=_cmd_run)
    rep = commands.add_parser("reproduce", help="re-run a logged run from its recorded versions and compare")
    rep.add_argument("run_id", help="the MLflow run id printed by `whyflow run`")
    rep.add_argument("--params", default="params.yaml", help="params file of the project (locates git, DVC, MLflow)")
    rep.set_defaults(handler=_cmd_reproduce)
    est = commands.add_parser("estimators", help="list the estimator registry")
    est.add_argument("--json", action="store_true", help="machine-readable output")
    est.set_defaults(handler=_cmd_estimators)
    from flows.graph_cli import add_graph_parser  # argparse only: the graph tools load when a command runs

    add_graph_parser(commands)
    from flows.cli_extra import add_operations_parsers  # serve, monitor: argparse only here too

    add_operations_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from whyflow.errors import WhyflowError

    try:
        return args.handler(args)
    except WhyflowError as exc:
        if args.debug:
            raise
        print(f"whyflow: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("whyflow: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"whyflow: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
