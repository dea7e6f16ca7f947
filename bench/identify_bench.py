"""Identification and graph-testing speed: whyflow's d-separation searches against DoWhy's.

Times `identification_report` (back-door, front-door, instruments) on the issue-5 targets - a graph
with 50 observed confounders, 2 instruments and a mediator, and random 200-node DAGs - checks its
adjustment and front-door sets with DoWhy's own validity checks, and times DoWhy's
`identify_effect_auto` on the same graphs (in a child process with a time limit, since its
front-door search enumerates subsets), plus DoWhy's default back-door search on growing graphs.
Also times the graph-vs-data test and PC suggestions on the 124,300-row demo. Writes Markdown to
bench/results/identify.md.

    .venv/bin/python bench/identify_bench.py --runs 7
"""

from __future__ import annotations

from whyflow.threads import pin_threads

pin_threads()  # before numpy loads: one numeric thread, as in the flow

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import networkx as nx  # noqa: E402

from data.synthetic_graphs import confounded_graph, random_dag, treatment_outcome_pair  # noqa: E402
from tasks.graph.model import CausalGraph  # noqa: E402
from tasks.identify.report import identification_report  # noqa: E402


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _dowhy_child(edges, latent, t, y, method, queue) -> None:
    from dowhy.causal_identifier import BackdoorAdjustment, EstimandType, identify_effect_auto

    dag = nx.DiGraph(edges)
    observed = [n for n in dag if n not in latent]
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        identify_effect_auto(dag, [t], [y], observed, EstimandType.NONPARAMETRIC_ATE,
                             backdoor_adjustment=getattr(BackdoorAdjustment, method))
    queue.put(time.perf_counter() - started)


def dowhy_seconds(dag: nx.DiGraph, t: str, y: str, method: str, limit: float) -> float | None:
    """DoWhy's identify_effect_auto wall time, or None when it ran past `limit` seconds (then stopped)."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    latent = [n for n in dag if dag.nodes[n].get("latent")]
    child = context.Process(target=_dowhy_child, args=(list(dag.edges), latent, t, y, method, queue))
    child.start()
    child.join(limit)
    if child.is_alive():
        child.terminate()
        child.join()
        return None
    return queue.get() if not queue.empty() else None


def dowhy_accepts(dag: nx.DiGraph, t: str, y: str, report) -> bool:
    from dowhy.graph import check_valid_backdoor_set, check_valid_frontdoor_set, do_surgery

    ok = all(check_valid_backdoor_set(dag, [t], [y], list(s))["is_dseparated"]
             for s in (report.backdoor_all_observed, report.backdoor_minimal) if s is not None)
    if report.frontdoor:
        ok &= bool(check_valid_frontdoor_set(dag, [t], [y], list(report.frontdoor),
                                             new_graph=do_surgery(dag, [t], remove_incoming_edges=True)))
    return ok


def whyflow_seconds(dag: nx.DiGraph, t: str, y: str, runs: int):
    graph = CausalGraph(dag, "bench")
    times, report = [], None
    for _ in range(runs):
        started = time.perf_counter()
        report = identification_report(graph, t, y)
        times.append(time.perf_counter() - started)
    return times, report


def _fmt(value: float | None, limit: float) -> str:
    return f"> {limit:g} (stopped)" if value is None else f"{value:.3f}"


def _size(report) -> str:
    if report.backdoor_all_observed is None:
        return "-"
    return f"{len(report.backdoor_all_observed)}/{len(report.backdoor_minimal)}"


def identification_rows(runs: int, limit: float) -> list[str]:
    cases = [("50 confounders, 2 instruments, 1 mediator", confounded_graph(50, 2, 1), "t", "y")]
    for latent in (0.0, 0.1):
        for seed in range(5):
            dag = random_dag(200, 3.0, seed=seed, latent_share=latent)
            name = f"random DAG, 200 nodes, seed {seed}, {latent:.0%} latent"
            cases.append((name, dag, *treatment_outcome_pair(dag)))
    rows = ["| graph | nodes / edges | whyflow median s (min-max) | back-door full/minimal | front-door | "
            "instruments | DoWhy accepts | DoWhy BACKDOOR_MAX s |", "|---|---:|---:|---|---|---:|---|---:|"]
    for name, dag, t, y in cases:
        times, report = whyflow_seconds(dag, t, y, runs)
        theirs = dowhy_seconds(dag, t, y, "BACKDOOR_MAX", limit)
        rows.append(f"| {name} ({t} -> {y}) | {dag.number_of_nodes()} / {dag.number_of_edges()} | "
                    f"{statistics.median(times):.4f} ({min(times):.4f}-{max(times):.4f}) | {_size(report)} | "
                    f"{'-' if report.frontdoor is None else ', '.join(report.frontdoor)} | {len(report.instruments)} | "
                    f"{'yes' if dowhy_accepts(dag, t, y, report) else 'NO'} | {_fmt(theirs, limit)} |")
        print(rows[-1], flush=True)
    return rows


def default_backdoor_rows(limit: float) -> list[str]:
    rows = ["| confounders | whyflow s | DoWhy default back-door s |", "|---:|---:|---:|"]
    for k in (8, 12, 16, 20):
        dag = confounded_graph(k, 0, 0, direct=True)
        times, _ = whyflow_seconds(dag, "t", "y", 3)
        theirs = dowhy_seconds(dag, "t", "y", "BACKDOOR_DEFAULT", limit)
        rows.append(f"| {k} | {statistics.median(times):.4f} | {_fmt(theirs, limit)} |")
        print(rows[-1], flush=True)
    return rows


def data_rows(runs: int) -> list[str]:
    import pandas as pd

    from tasks.discovery import suggest_structure
    from tasks.graph.model import read_graph_file
    from tasks.graph.implications import run_graph_tests

    frame = pd.read_parquet(ROOT / "data/raw/coupon_618.parquet")
    graph = read_graph_file(ROOT / "data/graphs/coupon_618.dot")
    jobs = {
        "graph test, linear (Fisher z), 100 random graphs": lambda: run_graph_tests(graph, frame, seed=42),
        "graph test, KCI on 500 rows, 20 random graphs": lambda: run_graph_tests(graph, frame, seed=42, method="kci"),
        "PC suggestions (causal-learn) on 5,000 rows": lambda: suggest_structure(graph, frame, seed=42),
    }
    rows = ["| step on the 124,300-row demo | median s (min-max) | result |", "|---|---:|---|"]
    for name, job in jobs.items():
        job()  # warm-up: imports (causal-learn takes about 2.5 s) are not the step's cost
        times, result = [], None
        for _ in range(runs if "KCI" not in name else max(1, runs // 2)):
            started = time.perf_counter()
            result = job()
            times.append(time.perf_counter() - started)
        summary = (f"{result.violated}/{result.implied} violated, random {result.random_violated_share:.2f}, "
                   f"p {result.p_value:.3g}, {result.rows:,} rows" if hasattr(result, "implied") else
                   f"{len(result.add)} add, {len(result.remove)} remove, {len(result.reverse)} reverse")
        rows.append(f"| {name} | {statistics.median(times):.3f} ({min(times):.3f}-{max(times):.3f}) | {summary} |")
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per case (medians reported)")
    parser.add_argument("--limit", type=float, default=120.0, help="seconds before a DoWhy call is stopped")
    parser.add_argument("--out", default=str(ROOT / "bench/results/identify.md"))
    args = parser.parse_args()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    identification = identification_rows(args.runs, args.limit)
    growth = default_backdoor_rows(min(args.limit, 60.0))
    data = data_rows(args.runs)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    lines = [
        "# Identification and graph tests: whyflow's d-separation searches vs DoWhy",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} CPUs ({_cpu()}), Python {platform.python_version()}, {platform.system()}, "
        "one numeric thread (whyflow.threads.pin_threads)",
        f"- command: `python bench/identify_bench.py --runs {args.runs} --limit {args.limit:g}` (Python "
        f"{platform.python_version()} environment installed from requirements.lock)",
        f"- load average (1/5/15 min) before: {' '.join(load_before)}, after: {' '.join(load_after)}",
        "",
        "## Identification report (back-door, front-door, instruments)",
        "",
        f"whyflow: median of {args.runs} runs of `tasks.identify.report.identification_report`. DoWhy: one run of "
        "`identify_effect_auto(..., BackdoorAdjustment.BACKDOOR_MAX)` (what whyflow called before), stopped at the "
        "limit. \"DoWhy accepts\": DoWhy's `check_valid_backdoor_set` passes both back-door sets and "
        "`check_valid_frontdoor_set` the front-door set.",
        "",
        *identification,
        "",
        "## DoWhy's default (exhaustive) back-door search, x_i -> t, x_i -> y, t -> y",
        "",
        *growth,
        "",
        "## Testing the graph against the data (data/graphs/coupon_618.dot)",
        "",
        f"Median of {args.runs} runs (KCI: {max(1, args.runs // 2)}), after one warm-up run.",
        "",
        *data,
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
