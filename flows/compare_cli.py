"""`whyflow compare RUN_A RUN_B [--estimator E ...] [--json]`: flows/cli.py adds this parser; the flow,
MLflow and the replays load only when the command runs, so `whyflow --help` stays instant."""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["add_compare_parser", "print_comparison"]

_FACTORS = ("data", "graph", "params", "code")


def _changed_lines(result: dict) -> list[str]:
    changes = result["changes"]
    data, graph, code = changes["data"], changes["graph"], changes["code"]
    lines = []
    if not data["same"]:
        top = sorted((s for s in data["shifts"] if s["smd"] is not None), key=lambda s: -abs(s["smd"]))[:3]
        units = (f", units +{data['units_added']:,} -{data['units_removed']:,}" if data.get("units_added") is not None
                 else "")
        lines.append(f"data: {data['rows_a']:,} -> {data['rows_b']:,} rows{units}; largest shifts: " +
                     ", ".join(f"{s['column']} SMD {s['smd']:+.3f} KS {s['ks']:.3f}" for s in top))
    if not graph["same"]:
        edges = [f"+{a}->{b}" for a, b in graph["added_edges"]] + [f"-{a}->{b}" for a, b in graph["removed_edges"]]
        latent = [f"latent +{n}" for n in graph["became_latent"]] + [f"observed +{n}" for n in graph["became_observed"]]
        before, after = graph["design_a"], graph["design_b"]
        design = "".join(f"; {key.replace('_', ' ')} {before.get(key)} -> {after.get(key)}"
                         for key in ("strategy", "backdoor", "backdoor_minimal", "instruments", "frontdoor", "error")
                         if before.get(key) != after.get(key))
        lines.append(f"graph: {', '.join(edges + latent) or 'nodes renamed'}{design}")
    if changes["params"]:
        lines.append("params: " + ", ".join(f"{p['key']} {json.dumps(p['a'])} -> {json.dumps(p['b'])}"
                                            for p in changes["params"][:8]))
    if code["commit_a"] != code["commit_b"] or code["dirty_a"] or code["dirty_b"]:
        same = " (no code file touched: same code)" if code["same_code"] else ""
        lines.append(f"code: {code['commit_a'][:10]} -> {code['commit_b'][:10]}, {len(code['commits'])} commit(s), "
                     f"{code['stat'] or 'no file changed'}{same}")
    if changes["environment"]:
        lines.append(f"environment: {len(changes['environment'])} package(s) differ: " +
                     ", ".join(changes["environment"][:5]))
    return lines or ["nothing changed between the two runs' versions"]


def print_comparison(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from whyflow.format import number

    console = Console(width=max(Console().width, 150))
    for line in _changed_lines(result):
        console.print(line, highlight=False, soft_wrap=True)
    table = Table(title=f"why the estimate moved: {result['runs'][0]} -> {result['runs'][1]}")
    for header in ("estimator", "A", "B", "B - A", *_FACTORS, "interaction", "method"):
        table.add_column(header, justify="left" if header in ("estimator", "method") else "right")
    for name, e in result["estimates"].items():
        shares = e["attribution"] or {}
        residual = (e["interactions"] or {}).get("residual")
        table.add_row(name, number(e["a"]), number(e["b"]), number(e["change"]),
                      *(number(shares.get(f)) for f in _FACTORS), number(residual), e["method"] or "failed")
    console.print(table)
    for name, e in result["estimates"].items():
        if e["note"] or e["error"]:
            print(f"note: {name}: {e['note'] or e['error']}")
        if e["reproduced"]["a"] is False or e["reproduced"]["b"] is False:
            print(f"warning: {name}: a corner replay differs from its logged run (A {e['logged']['a']!r} vs "
                  f"{e['replayed'].get('A')!r}, B {e['logged']['b']!r} vs {e['replayed'].get('B')!r}); the shares "
                  "split the replayed difference", file=sys.stderr)
    replays = result["replays"]
    ran = [r for r in replays if r["status"] == "ok"]
    methods = sorted({e["method"] for e in result["estimates"].values() if e["method"]})
    kind = "exact Shapley values" if methods == ["shapley"] else "/".join(methods) or "none"
    print(f"shares: {kind} over the {sum(len(r['combinations']) for r in replays)} combinations "
          f"({len(ran)} replayed, {sum(r['status'] == 'cached' for r in replays)} cached, "
          f"{sum(r['status'] == 'failed' for r in replays)} failed) in {result['replay_seconds']:.0f} s; "
          "interaction = B - A minus the first-order effects")


def _cmd_compare(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    from flows.console import quiet_expected_errors
    from tasks.record.reproduce import load_logged_run

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no download bars on stderr
    base_dir = Path(args.params).resolve().parent
    for run_id in (args.run_a, args.run_b):  # an unknown run: exit 2 before Prefect starts
        load_logged_run(base_dir, run_id)
    from flows.compare import compare

    if not args.debug:
        quiet_expected_errors()
    result = compare(run_a=args.run_a, run_b=args.run_b, estimators=args.estimator or None,
                     params_file=str(args.params), workers=args.workers)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_comparison(result)
    print(f"mlflow_run_id={result['mlflow_run_id']}", flush=True)
    return 0


def add_compare_parser(commands) -> None:
    cmp = commands.add_parser("compare", help="why an estimate moved between two runs: replay every combination of "
                                              "their data, graph, params and code (Shapley shares)")
    cmp.add_argument("run_a", help="the earlier MLflow run id")
    cmp.add_argument("run_b", help="the later MLflow run id")
    cmp.add_argument("--estimator", action="append", metavar="E", help="only this estimator (repeatable)")
    cmp.add_argument("--json", action="store_true", help="machine-readable output")
    cmp.add_argument("--workers", type=int, default=2, help="replay processes at once (default: 2)")
    cmp.add_argument("--params", default="params.yaml", help="params file of the project (locates git, DVC, MLflow)")
    cmp.set_defaults(handler=_cmd_compare)
