"""Structure learning bench: SHD, TPR, FDR and seconds of whyflow's linear NOTEARS, causal-learn's PC
and a reference NOTEARS (gCastle's, run in a separate throwaway venv, never installed in the project)
on random Erdos-Renyi DAGs with 2 edges per node on average; linear-Gaussian and nonlinear SEMs.

    python3 -m venv $SCRATCH/notears-ref && $SCRATCH/notears-ref/bin/pip install gcastle==1.0.4
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/structure_bench.py \
        --reference-python $SCRATCH/notears-ref/bin/python

Data: x_j = sum over parents of f(x_k) + N(0, 1) on the raw scale, weights w ~ U(0.5, 2) with random
sign; f(x) = w x (linear) or w tanh(x) + 0.5 |w| cos(2x) (nonlinear, additive). Every method sees
the same array. Metrics on directed edges: SHD = extra + missing + reversed adjacencies, PC's
undirected edges counted as reversed (a conservative reading of a CPDAG); TPR = correctly oriented
true edges / true edges; FDR = (edges found that are not true, as directed) / edges found.
Reference runs longer than --reference-timeout are stopped; larger d at the same n are then skipped.
"""

from __future__ import annotations

from whyflow.threads import pin_threads

pin_threads()  # before numpy loads

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from data.synthetic_graphs import random_dag  # noqa: E402
from tasks.structure.notears import notears_linear  # noqa: E402
from tasks.structure.pc import run_pc  # noqa: E402

# gCastle's package __init__ imports torch for its other algorithms; its linear NOTEARS needs none of
# it, so the reference script loads that one module by path with a stub torch (bench only).
REFERENCE_SCRIPT = r"""
import importlib.util, json, logging, sys, time, types
torch = types.ModuleType("torch"); torch.Tensor = type("Tensor", (), {}); sys.modules["torch"] = torch
import castle, numpy as np
logging.disable(logging.INFO)
path = castle.__path__[0] + "/algorithms/gradient/notears/linear.py"
spec = importlib.util.spec_from_file_location("ref_linear", path)
module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)
X = np.load(sys.argv[1]); started = time.perf_counter()
model = module.Notears(); model.learn(X)
np.save(sys.argv[2], np.asarray(model.causal_matrix)); print(json.dumps({"seconds": time.perf_counter() - started}))
"""


def simulate(dag: nx.DiGraph, rows: int, seed: int, kind: str) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    values = {}
    for node in nx.lexicographical_topological_sort(dag):
        column = rng.normal(size=rows)
        for parent in sorted(dag.predecessors(node)):
            w = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0)
            x = values[parent]
            column = column + (w * x if kind == "linear" else w * np.tanh(x) + 0.5 * abs(w) * np.cos(2 * x))
        values[node] = column
    names = sorted(dag.nodes, key=lambda n: int(n[1:]))
    return names, np.column_stack([values[n] for n in names])


def score(found: set[tuple[str, str, str]], truth: set[tuple[str, str]]) -> dict:
    directed = {(a, b) for a, b, kind in found if kind == "->"}
    true_pairs = {frozenset(e) for e in truth}
    found_pairs = {frozenset((a, b)) for a, b, _ in found}
    reversed_or_undirected = sum(1 for a, b, kind in found if frozenset((a, b)) in true_pairs and
                                 (kind != "->" or (a, b) not in truth))
    shd = len(found_pairs - true_pairs) + len(true_pairs - found_pairs) + reversed_or_undirected
    correct = len(directed & truth)
    return {"shd": shd, "tpr": correct / max(len(truth), 1), "fdr": (len(found) - correct) / max(len(found), 1)}


def from_matrix(matrix: np.ndarray, names: list[str]) -> set:
    return {(names[i], names[j], "->") for i, j in np.argwhere(matrix != 0)}


def run_reference(python: str, X: np.ndarray, names: list[str], timeout: float) -> tuple[set | None, float]:
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/x.npy", X)
        try:
            done = subprocess.run([python, "-c", REFERENCE_SCRIPT, f"{tmp}/x.npy", f"{tmp}/w.npy"], timeout=timeout,
                                  capture_output=True, text=True, check=True,
                                  env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
        except subprocess.TimeoutExpired:
            return None, timeout
        seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        return from_matrix(np.load(f"{tmp}/w.npy"), names), seconds


def cell(d: int, rows: int, kind: str, reps: int, args, skip_reference: bool) -> dict:
    results: dict[str, list] = {}
    for rep in range(reps):
        seed = 1000 * d + rep
        dag = random_dag(d, mean_degree=4.0, seed=seed)
        truth = set(dag.edges)
        names, X = simulate(dag, rows, seed + 1, kind)
        methods = {
            "whyflow NOTEARS (standardised, default)": lambda: from_matrix(notears_linear(X).weights, names),
            "whyflow NOTEARS (raw scale)": lambda: from_matrix(notears_linear(X, standardise=False).weights, names),
            "PC (causal-learn, Fisher z, alpha 0.01)": lambda: set(run_pc(pd.DataFrame(X, columns=names), names,
                                                                          alpha=0.01)[0].values()),
        }
        for name, method in methods.items():
            started = time.perf_counter()
            found = method()
            results.setdefault(name, []).append({**score(found, truth), "seconds": time.perf_counter() - started})
        if args.reference_python and not skip_reference:
            found, seconds = run_reference(args.reference_python, X, names, args.reference_timeout)
            entry = {"seconds": seconds, "timeout": found is None, **(score(found, truth) if found else {})}
            results.setdefault("gCastle 1.0.4 NOTEARS (reference, raw scale)", []).append(entry)
    return results


def fmt(entries: list[dict]) -> str:
    stopped = [e for e in entries if e.get("timeout")]
    if stopped:
        done = ", ".join(f"{e['seconds']:.0f} s" for e in entries if not e.get("timeout"))
        return (f"| - | - | - | {len(stopped)} of {len(entries)} stopped at {stopped[0]['seconds']:.0f} s"
                + (f"; finished: {done}" if done else "") + " |")
    med = {k: statistics.median(e[k] for e in entries) for k in ("shd", "tpr", "fdr", "seconds")}
    return f"| {med['shd']:.1f} | {med['tpr']:.2f} | {med['fdr']:.2f} | {med['seconds']:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="10,20,50")
    parser.add_argument("--rows", default="1000,10000")
    parser.add_argument("--sems", default="linear,nonlinear")
    parser.add_argument("--reps", type=int, default=2, help="DAGs per cell for d <= 20 (one for larger d)")
    parser.add_argument("--reference-python", help="python of a throwaway venv with gcastle installed")
    parser.add_argument("--reference-timeout", type=float, default=300.0)
    parser.add_argument("--output", default=str(ROOT / "bench/results/structure.md"))
    args = parser.parse_args()
    load_before, started = os.getloadavg(), time.perf_counter()
    lines = []
    for kind in args.sems.split(","):
        for rows in map(int, args.rows.split(",")):
            reference_stopped = False
            for d in map(int, args.dims.split(",")):
                results = cell(d, rows, kind, args.reps if d <= 20 else 1, args, reference_stopped)
                ref = results.get("gCastle 1.0.4 NOTEARS (reference, raw scale)")
                reference_stopped = reference_stopped or bool(ref and any(e.get("timeout") for e in ref))
                for name, entries in results.items():
                    lines.append(f"| {kind} | {d} | {rows:,} | {name} | {len(entries)} " + fmt(entries))
                    print(lines[-1], flush=True)
                if args.reference_python and ref is None:
                    lines.append(f"| {kind} | {d} | {rows:,} | gCastle 1.0.4 NOTEARS (reference, raw scale) | 0 "
                                 f"| - | - | - | skipped: stopped at a smaller d |")
    minutes = (time.perf_counter() - started) / 60
    header = [
        "# Structure learning: NOTEARS (whyflow), PC and a reference NOTEARS on random DAGs",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: 2 cores ({platform.machine()}, Python {platform.python_version()}, one numeric thread per "
        "process); other agents shared the CPU, run under `nice -n 10`",
        f"- command: `OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/structure_bench.py --dims {args.dims} "
        f"--rows {args.rows} --sems {args.sems} --reps {args.reps} --reference-python $SCRATCH/notears-ref/bin/python "
        f"--reference-timeout {args.reference_timeout:g}`",
        f"- total wall time {minutes:.1f} min; load average before {' '.join(f'{v:.2f}' for v in load_before)}, after "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        "- DAGs: data.synthetic_graphs.random_dag(d, mean_degree=4) (2 edges per node on average), seeds 1000 d + rep; "
        "data and metrics as in the script's docstring; medians over the reps column",
        "- reference: gCastle 1.0.4's linear NOTEARS (the original algorithm and defaults: lambda1 0.1, threshold "
        "0.3, h_tol 1e-8) in a throwaway venv outside the repository, loaded by module path with a stub torch",
        "",
        "| SEM | d | n | method | reps | SHD | TPR | FDR | median s |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    Path(args.output).write_text("\n".join(header + lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
