"""Dose-response curves with a known truth: MISE and band coverage of VCNet and DRNet next to the
generalised propensity score estimator of Hirano & Imbens (2004), on the VCNet-style simulation
(data/dose_dgps.py), replicates seed = 1..R.

The curve is scored on 21 doses evenly spaced between the sample's 5% and 95% dose quantiles:
MISE = mean over the grid of (mu_hat(t) - mu(t))^2, coverage = share of grid points whose 95% band
contains mu(t). The Hirano-Imbens baseline (own implementation): T | X ~ N(X b, s^2) by OLS, GPS
R = phi((T - X b) / s) / s, E[Y | T, R] quadratic in T and R with their product, mu(t) = mean_i of
that at (t, r_i(t)); its band is a 100-resample bootstrap of the whole procedure (mean +- 1.96 SD).

    OMP_NUM_THREADS=1 nice -n 10 python bench/deep_dose.py --replicates 1-20 --out /tmp/dose.jsonl
    python bench/deep_dose.py --table /tmp/dose.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

Z95 = 1.959963984540054


def hirano_imbens_curve(x, t, y, grid) -> np.ndarray:
    """mu(t) on the grid from the GPS regression of Hirano & Imbens (2004)."""
    design = np.column_stack([np.ones(len(t)), x])
    beta = np.linalg.lstsq(design, t, rcond=None)[0]
    centre = design @ beta
    sigma = np.sqrt(np.mean((t - centre) ** 2))
    r = stats.norm.pdf((t - centre) / sigma) / sigma
    outcome = np.column_stack([np.ones(len(t)), t, t**2, r, r**2, t * r])
    alpha = np.linalg.lstsq(outcome, y, rcond=None)[0]
    curve = []
    for g in grid:
        rg = stats.norm.pdf((g - centre) / sigma) / sigma
        curve.append(np.mean(alpha[0] + alpha[1] * g + alpha[2] * g**2 + alpha[3] * rg + alpha[4] * rg**2
                             + alpha[5] * g * rg))
    return np.array(curve)


def hirano_imbens(x, t, y, grid, seed: int, resamples: int = 100) -> dict:
    rng = np.random.default_rng(seed)
    mu = hirano_imbens_curve(x, t, y, grid)
    boot = []
    for _ in range(resamples):
        rows = rng.integers(0, len(t), len(t))
        boot.append(hirano_imbens_curve(x[rows], t[rows], y[rows], grid))
    sd = np.std(boot, axis=0, ddof=1)
    return {"mu": mu, "low": mu - Z95 * sd, "high": mu + Z95 * sd}


def replicate(seed: int, n: int) -> list[dict]:
    from data.dose_dgps import vcnet_style
    from estimators.deep.drnet import fit_drnet
    from estimators.deep.vcnet import fit_vcnet

    sim = vcnet_style(n=n, seed=seed)
    grid = sim.grid()
    truth = sim.mu(grid)
    rows = []
    for name in ("vcnet", "drnet", "hirano_imbens"):
        started, cpu = time.perf_counter(), time.process_time()
        if name == "hirano_imbens":
            curve = hirano_imbens(sim.x, sim.t, sim.y, grid, seed)
            slope = None
        else:
            fit = (fit_vcnet if name == "vcnet" else fit_drnet)(sim.x, sim.t, sim.y, n_members=10, seed=seed)  # defaults
            curve = {k: np.array(v) for k, v in fit.dose_response(sim.x, grid).items()}
            slope = float(fit.average_derivative(sim.x, sim.t).mean())
        inside = (curve["low"] <= truth) & (truth <= curve["high"])
        rows.append({"seed": seed, "estimator": name, "mise": float(np.mean((curve["mu"] - truth) ** 2)),
                     "coverage": float(inside.mean()), "band_width": float(np.mean(curve["high"] - curve["low"])),
                     "avg_derivative": slope, "true_derivative": sim.derivative,
                     "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu})
    return rows


def table(path: str) -> str:
    rows = [json.loads(line) for line in open(path)]
    lines = ["| estimator | reps | MISE, median [IQR] | band covers mu(t): mean share of grid points | "
             "replicates with >= 90% covered | mean band width | avg. derivative error, median | s (CPU) per fit |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for name in ("vcnet", "drnet", "hirano_imbens"):
        mine = [r for r in rows if r["estimator"] == name]
        if not mine:
            continue
        mise = [r["mise"] for r in mine]
        slope = [abs(r["avg_derivative"] - r["true_derivative"]) for r in mine if r["avg_derivative"] is not None]
        lines.append(f"| {name} | {len(mine)} | {np.median(mise):.4f} [{np.quantile(mise, .25):.4f}, "
                     f"{np.quantile(mise, .75):.4f}] | {np.mean([r['coverage'] for r in mine]):.0%} | "
                     f"{np.mean([r['coverage'] >= 0.9 for r in mine]):.0%} | "
                     f"{np.mean([r['band_width'] for r in mine]):.3f} | "
                     f"{(f'{np.median(slope):.3f}' if slope else '-')} | "
                     f"{np.median([r['cpu_seconds'] for r in mine]):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", default="1-20")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--out")
    parser.add_argument("--table")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    low, high = (int(v) for v in args.replicates.split("-"))
    with open(args.out, "a") as sink:
        for seed in range(low, high + 1):
            for row in replicate(seed, args.n):
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)


if __name__ == "__main__":
    main()
