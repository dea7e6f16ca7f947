"""Wall time of the refutation step of the demo (coupon_618, 124,300 rows), by refuter.

Loads the demo data and spec, fits the spec's estimators once, then times `refute_estimates` for each
refuter alone and for the chosen set, with the demo's worker count. Writes a Markdown table to
bench/results/refute-timing-<analysis>.md.

    .venv/bin/python bench/refute_timing.py coupon_618 --runs 3 --refuters placebo,random_common_cause,data_subset
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("analysis", nargs="?", default="coupon_618")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--refuters", default="", help="comma-separated; default: the spec's list")
    parser.add_argument("--simulations", type=int, default=0, help="default: the spec's refute_simulations")
    parser.add_argument("--label", default="", help="a name for this configuration in the output file")
    parser.add_argument("--workers", type=int, default=0, help="processes (default: the spec's / one per core); "
                        "with 1 the CPU seconds are measured too, which other jobs on the machine barely disturb")
    args = parser.parse_args()

    from whyflow.threads import pin_threads

    pin_threads()
    from tasks.estimate import effects as estimate
    from tasks.graph import model as graph
    from tasks.identify import effect as identify
    from tasks.evidence import refute
    from tasks.data import snapshot
    from whyflow.parallel import default_workers, warm_up
    from tasks.plan import plan_analysis, preflight
    from whyflow.spec import load_spec

    spec = load_spec(ROOT / "params.yaml", args.analysis)
    workers = args.workers or spec.workers or default_workers()
    warm_up(workers)
    frame = snapshot.read_source(spec)
    ident = identify.identify_effect(graph.load_graph(spec), spec)
    plan = plan_analysis(spec, ident, preflight(spec))
    data = estimate.causal_data(frame, spec, ident, plan)
    estimates = estimate.estimate_effects(data, spec, plan.estimators, plan.options)
    refuters = args.refuters.split(",") if args.refuters else spec.refuters
    simulations = args.simulations or spec.refute_simulations
    rows = []
    for name in [*refuters, "all of them"]:
        chosen = refuters if name == "all of them" else [name]
        walls, cpus = [], []
        for _ in range(args.runs):
            started, cpu = time.perf_counter(), time.process_time()
            refute.refute_estimates(data, estimates, chosen, seed=spec.seed, simulations=simulations,
                                    workers=workers)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
        rows.append((name, walls, cpus))
    load = os.getloadavg()
    out = ROOT / "bench" / "results" / f"refute-timing-{args.analysis}.md"
    lines = [f"\n## {args.label or ', '.join(refuters)}", "",
             f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; machine: 2 cores, 24 GiB, no GPU "
             f"(shared with other jobs: load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})",
             f"- command: `python bench/refute_timing.py {args.analysis} --runs {args.runs}"
             + (f" --refuters {args.refuters}" if args.refuters else "")
             + (f" --workers {args.workers}" if args.workers else "")
             + (f" --simulations {args.simulations}" if args.simulations else "") + "`",
             f"- {data.n:,} rows, estimators {', '.join(e.estimator for e in estimates)}, "
             f"{simulations} simulations, {workers} worker processes", "",
             "| refuters | wall per run (s) | median wall s | median CPU s (this process) |", "|---|---|---:|---:|"]
    for name, walls, cpus in rows:
        lines.append(f"| {name} | {', '.join(f'{w:.1f}' for w in walls)} | {statistics.median(walls):.1f} | "
                     f"{statistics.median(cpus):.1f} |")
    with out.open("a") as handle:
        handle.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
