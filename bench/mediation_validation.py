"""Mediation validation: coverage of the 95% intervals, bias and time of the regression and the
cross-fitted DR (medDML-style) estimators of NDE, NIE and total effect, on simulated data with known
effects (data/mediation_dgps.py), over seeded replications. Writes bench/results/mediation-validation.md.

    nice -n 10 .venv/bin/python bench/mediation_validation.py --replications 200 --rows 2000
"""

from __future__ import annotations

from whyflow.threads import pin_threads

pin_threads()  # before numpy loads: one numeric thread per process, as in the flow

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from data import mediation_dgps as dgps  # noqa: E402
from tasks.mediation.dml import dml_mediation  # noqa: E402
from tasks.mediation.inputs import prepare_inputs  # noqa: E402
from tasks.mediation.regression import regression_mediation  # noqa: E402

SCENARIOS = {
    "linear, no T x M interaction": partial(dgps.linear_mediation, interaction=0.0),
    "linear, T x M interaction 0.5": partial(dgps.linear_mediation, interaction=0.5),
    "nonlinear confounding (T x M 0.4)": dgps.nonlinear_mediation,
    "two ordered mediators m1 -> m2": dgps.sequential_mediation,
}
ESTIMATORS = {
    "regression": lambda data, seed: regression_mediation(data),
    "dml, linear/logistic nuisances": lambda data, seed: dml_mediation(data, seed=seed, nuisance="linear"),
    "dml, LightGBM nuisances": lambda data, seed: dml_mediation(data, seed=seed, nuisance="lightgbm"),
}
PARTS = ("nde", "nie", "total")


def run_cell(scenario: str, estimator: str, rows: int, replications: int, budget: float, root: int) -> dict:
    """Replications until done or the cell's time budget is spent; per part: errors, hits, widths."""
    seeds = np.random.SeedSequence(root).spawn(replications)
    errors = {p: [] for p in PARTS}
    hits = {p: [] for p in PARTS}
    widths = {p: [] for p in PARTS}
    seconds, started = [], time.perf_counter()
    for seed in seeds:
        if time.perf_counter() - started > budget:
            break
        data_seed = int(seed.generate_state(1)[0])
        dgp = SCENARIOS[scenario](rows, seed=data_seed)
        data = prepare_inputs(dgp.frame, treatment=dgp.treatment, outcome=dgp.outcome, mediators=dgp.mediators,
                              confounders=dgp.confounders)
        tick = time.perf_counter()
        result = ESTIMATORS[estimator](data, seed.spawn(1)[0])
        seconds.append(time.perf_counter() - tick)
        for p in PARTS:
            effect = getattr(result, p)
            errors[p].append(effect.estimate - dgp.truth[p])
            hits[p].append(effect.ci_low <= dgp.truth[p] <= effect.ci_high)
            widths[p].append(effect.ci_high - effect.ci_low)
    return {"reps": len(seconds), "errors": errors, "hits": hits, "widths": widths, "seconds": seconds}


def row(scenario: str, estimator: str, cell: dict) -> str:
    r = cell["reps"]
    parts = []
    for p in PARTS:
        err, cov = np.array(cell["errors"][p]), float(np.mean(cell["hits"][p]))
        parts.append(f"{err.mean():+.3f} ({err.std(ddof=1) / np.sqrt(r):.3f})")
        parts.append(f"{cov:.3f} ({np.sqrt(cov * (1 - cov) / r):.3f})")
    return (f"| {scenario} | {estimator} | {r} | " + " | ".join(parts)
            + f" | {statistics.median(cell['widths']['nie']):.3f} | {statistics.median(cell['seconds']):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--cell-budget", type=float, default=600.0, help="seconds per scenario x estimator")
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--lightgbm-in", default="all", help="comma-separated scenario numbers (1-based) where "
                        "the LightGBM cells run, or 'all'; they cost ~100x the others")
    parser.add_argument("--output", default=str(ROOT / "bench/results/mediation-validation.md"))
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.perf_counter()
    lines = []
    lightgbm_in = set(range(1, len(SCENARIOS) + 1)) if args.lightgbm_in == "all" else \
        {int(v) for v in args.lightgbm_in.split(",")}
    for k, scenario in enumerate(SCENARIOS):
        for estimator in ESTIMATORS:
            if "LightGBM" in estimator and k + 1 not in lightgbm_in:
                lines.append(f"| {scenario} | {estimator} | 0 | not run (--lightgbm-in) |||||||||")
                continue
            cell = run_cell(scenario, estimator, args.rows, args.replications, args.cell_budget, args.seed + k)
            lines.append(row(scenario, estimator, cell))
            print(lines[-1], flush=True)
    minutes = (time.perf_counter() - started) / 60
    header = [
        "# Mediation validation: NDE, NIE and total effect with 95% intervals",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: 2 cores ({platform.machine()}, Python {platform.python_version()}, one numeric thread, "
        "LightGBM n_jobs=1); other agents shared the CPU, run under `nice -n 10`",
        f"- command: `nice -n 10 .venv/bin/python bench/mediation_validation.py --replications {args.replications} "
        f"--rows {args.rows} --cell-budget {args.cell_budget:g} --lightgbm-in {args.lightgbm_in} --seed {args.seed}`",
        f"- {args.rows:,} rows per draw; up to {args.replications} replications per cell (data and cross-fitting "
        f"seeds from numpy SeedSequence({args.seed} + scenario)); a cell stops early after "
        f"{args.cell_budget:g} s and its reps column says how many ran; total wall time {minutes:.1f} min; "
        f"load average before {' '.join(f'{v:.2f}' for v in load_before)}, after "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}",
        "- truths: closed forms in each generator's docstring (data/mediation_dgps.py); NDE holds the mediators "
        "at their control level, NIE moves them to the treated level with T = 1",
        "- bias: mean error (Monte-Carlo SE); coverage: share of intervals holding the truth (binomial SE); "
        "NIE width: median 95% interval width; seconds: median per fit",
        "- intervals: regression = delta method on stacked OLS influence functions; dml = influence-function "
        "variance of the cross-fitted scores (5 folds)",
        "",
        "| scenario | estimator | reps | NDE bias | NDE coverage | NIE bias | NIE coverage | total bias "
        "| total coverage | NIE width | median s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    Path(args.output).write_text("\n".join(header + lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
