"""The whyflow command line. Heavy libraries are imported inside the commands, so --help is instant."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["main"]


def _cmd_run(args: argparse.Namespace) -> int:
    from flows.console import print_summary, quiet_expected_errors
    from whyflow.spec import apply_overrides, load_spec

    if args.all or len(args.analysis) != 1:
        from flows.cli_ops import run_many

        return run_many(args)
    args.analysis = args.analysis[0]
    spec = load_spec(args.params, args.analysis, args.set)  # bad spec: exit 2 before Prefect starts
    from tasks.data.precheck import check_data_first
    from tasks.plan import preflight

    # names, options, engine, then every data problem at once: exit 2 before Prefect starts
    engine = preflight(spec, snapshot=str(args.snapshot) if args.snapshot else None)
    if not args.snapshot:
        check_data_first(spec, engine)
    from flows.analysis import analysis
    from whyflow.errors import GateFailed

    if not args.debug:
        quiet_expected_errors()

    overrides = apply_overrides({}, args.set)
    try:
        summary = analysis(analysis=args.analysis, params_file=str(args.params), overrides=overrides,
                           snapshot=str(args.snapshot) if args.snapshot else None, update_results=args.update_results)
    except GateFailed as exc:
        if exc.run_id:
            print(f"mlflow_run_id={exc.run_id}", flush=True)
        raise
    print_summary(summary["results"], summary["run_id"], summary["results_dir"])
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from flows.console import quiet_expected_errors
    from flows.reproduce import reproduce
    from whyflow.errors import ReproductionMismatch

    if not args.debug:
        quiet_expected_errors()
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
        table.add_column(header, no_wrap=header == "name", overflow="fold")
    for row in rows:
        table.add_row(row["name"], ", ".join(row["estimands"]), row["family"], "yes" if row["cate"] else "no",
                      "yes" if row["streams"] else "no", ", ".join(row["treatment_types"]),
                      ", ".join(row["requires"]) or "-")
    Console(width=max(Console().width, 150)).print(table)  # never clip a name, whatever the terminal
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whyflow", description="Workflow-orchestrated causal-effect experiments.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--quiet", action="store_true", help="only whyflow's own lines: no Prefect or progress logs")
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
    run.add_argument("--update-results", action="store_true",
                     help="with --set: write results/<analysis>/ (the DVC-tracked outputs) instead of "
                          "results/<analysis>/runs/<run_id>/")
    run.add_argument("--snapshot", metavar="PATH",
                     help="run on this exact snapshot instead of the declared source: a Parquet file (in memory) or "
                          "a dataset folder (streamed); stored in DVC too")
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
    from flows.cli_ops import add_operations_parsers  # serve, monitor: argparse only here too

    add_operations_parsers(commands)
    from flows.compare_cli import add_compare_parser  # compare: argparse only, the replays load when it runs
    add_compare_parser(commands)
    from flows.serve_model_cli import add_serve_model_parser  # serve-model: argparse only, MLflow loads when it runs
    add_serve_model_parser(commands)
    return parser


def _quiet() -> None:
    """Prefect's start-up and task lines and whyflow's progress log off; results and errors stay."""
    import logging
    import os

    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    for name in ("prefect", "tasks", "estimators", "whyflow", "flows"):
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quiet:
        _quiet()
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
