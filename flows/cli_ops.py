"""CLI commands for operations: `whyflow serve`, `whyflow monitor`, `whyflow spec`, and `whyflow run` of
several analyses at once. flows/cli.py adds these parsers; heavy imports stay inside the commands."""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["add_operations_parsers", "run_many"]


def run_many(args: argparse.Namespace) -> int:
    """`whyflow run A B ...` or `--all`: validate every spec, then fan out on Dask."""
    from whyflow.errors import SpecError
    from whyflow.spec import apply_overrides, list_analyses, load_spec

    names = list_analyses(args.params) if args.all else list(dict.fromkeys(args.analysis))
    if not names:
        raise SpecError("`whyflow run` needs an analysis name, several names, or --all; got none")
    if args.snapshot:
        raise SpecError(f"--snapshot must go with exactly one analysis; got {len(names)}: {names}")
    from tasks.data.precheck import check_data_first
    from tasks.plan import preflight

    specs = [load_spec(args.params, name, args.set) for name in names]  # every bad spec, then every bad data:
    for spec in specs:                                                    # exit 2 before any cluster starts
        check_data_first(spec, preflight(spec))
    from flows.console import print_summary, quiet_expected_errors
    from flows.fanout import run_many as fan_out

    if not args.debug:
        quiet_expected_errors()
    outcomes = fan_out(names, str(args.params), apply_overrides({}, args.set), address=args.dask_address)
    code = 0
    for outcome in outcomes:
        if outcome["status"] == "ok":
            print_summary(outcome["results"], outcome["run_id"], outcome["results_dir"])
            continue
        print(f"whyflow: error: {outcome['analysis']}: {outcome['error']}", file=sys.stderr)
        if outcome["run_id"]:
            print(f"mlflow_run_id={outcome['run_id']}", flush=True)
        code = code or outcome["exit_code"]
    return code


def _print_health(report: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="whyflow monitor")
    for header in ("analysis", "latest run", "check", "observed", "threshold", "verdict"):
        table.add_column(header)
    for health in report:
        if not health["checks"]:
            table.add_row(health["analysis"], health["run_id"] or "-", "no runs to check" if not health["run_id"] else "-",
                          "", "", "ok")
        for check in health["checks"]:
            observed = "-" if check["observed"] is None else f"{check['observed']:.4g}"
            table.add_row(health["analysis"], (health["run_id"] or "-")[:12], check["name"], observed,
                          f"{check['threshold']:.4g}", "ok" if check["passed"] else "ALERT")
    Console(width=140).print(table)
    for health in report:
        explained = health.get("attribution") or {}
        if explained.get("error"):
            print(f"{health['analysis']}: no attribution against {explained['previous_run'][:12]}: {explained['error']}")
        for name, moved in (explained.get("estimates") or {}).items():
            shares = ", ".join(f"{factor} {share:+.4g}" for factor, share in moved["attribution"].items())
            print(f"{health['analysis']}: {name} moved {moved['a']:.4g} -> {moved['b']:.4g} since run "
                  f"{explained['previous_run'][:12]}: {shares} ({moved['method']}; MLflow run {explained['compare_run']})")


def _cmd_monitor(args: argparse.Namespace) -> int:
    from flows.monitor import monitor
    from tasks.monitor import MonitorAlert, load_monitor_spec
    from whyflow.spec import load_spec

    load_monitor_spec(args.params)  # bad thresholds: exit 2 before Prefect starts
    for name in args.analysis:
        load_spec(args.params, name)
    try:
        report = monitor(params_file=str(args.params), analyses=args.analysis or None)
    except MonitorAlert as exc:
        _print_health(exc.report)
        raise
    _print_health(report)
    print("monitor: no alerts")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from flows.serve import serve_deployments
    from tasks.monitor import load_monitor_spec

    from whyflow.errors import SpecError

    if args.limit is not None and args.limit < 1:
        raise SpecError(f"--limit must be a positive number of flow runs; got {args.limit}")
    load_monitor_spec(args.params)  # a bad params file: exit 2 before registering anything
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    if not api:
        # Without a server, Prefect would serve against a temporary API that dies with this process
        # and that no UI can reach.
        raise SpecError("PREFECT_API_URL must point at a Prefect server (start one with `prefect server start`, then "
                        "export PREFECT_API_URL=http://127.0.0.1:4200/api); got none")
    print(f"whyflow serve: deployments analysis/whyflow, reproduce/whyflow, monitor/whyflow, compare/whyflow on {api}; "
          "Ctrl-C stops", flush=True)
    serve_deployments(args.params, monitor_cron=args.monitor_cron, limit=args.limit)
    return 0


def _cmd_spec(args: argparse.Namespace) -> int:
    from whyflow.spec_reference import render_text, select_keys

    try:
        print(render_text(select_keys(args.key)), flush=True)
    except BrokenPipeError:  # `whyflow spec | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def add_operations_parsers(commands) -> None:
    serve = commands.add_parser("serve", help="serve the Prefect deployments analysis/whyflow, reproduce/whyflow, "
                                              "monitor/whyflow, compare/whyflow (start runs from the Prefect UI)")
    serve.add_argument("--params", default="params.yaml", help="params file whose analyses the form offers")
    serve.add_argument("--monitor-cron", metavar="CRON", help="schedule the monitor flow (default: monitor.schedule)")
    serve.add_argument("--limit", type=int, metavar="N", help="at most N flow runs at once (default: no limit)")
    serve.set_defaults(handler=_cmd_serve)
    mon = commands.add_parser("monitor", help="check the latest run of each analysis for drift, overlap, balance, "
                                              "stale data (exit 5 on an alert)")
    mon.add_argument("analysis", nargs="*", help="analyses to check (default: all in the params file)")
    mon.add_argument("--params", default="params.yaml", help="params file (thresholds under 'monitor:')")
    mon.set_defaults(handler=_cmd_monitor)
    spec = commands.add_parser("spec", help="the reference of every spec key (type, default, example; docs/spec.md)")
    spec.add_argument("key", nargs="?", help="one key or nested group, dotted (e.g. estimand, gates, data.sql)")
    spec.set_defaults(handler=_cmd_spec)
