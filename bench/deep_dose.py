"""Dose-response curves with a known truth: MISE and band coverage of VCNet and DRNet next to the
generalised propensity score estimator of Hirano & Imbens (2004), on the VCNet-style simulation
(data/dose_dgps.py), replicates seed = 1..R.

The networks run through the registry adapters at their defaults (doubly robust curve); each fit is
scored twice, as reported (`vcnet`, `drnet`: DR curve, sandwich + members' band) and as the network's
own plug-in curve with the members' band (`vcnet_network`, `drnet_network`), and the DR curve with
the variance-only band it had before the bias-aware widening (`*_variance_band`) and with the correction
added undivided (`*_correction_band`), so before and after
compare identical networks. Coverage is also split by the curve's own `off_support_share` per dose
(below or above SUPPORTED). The curve is scored on 21 doses evenly spaced between the sample's 5% and
95% dose quantiles: MISE = mean over the grid of (mu_hat(t) - mu(t))^2, coverage = share of grid
points whose 95% band contains mu(t); "interior" repeats the coverage on the grid points between the
10% and 90% quantiles. The Hirano-Imbens baseline (own implementation): T | X ~ N(X b, s^2) by OLS, GPS
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
SUPPORTED = 0.4  # grid points where fewer units than this share are off support (density ratio above its cap)


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


def _score(seed, name, curve, truth, interior, slope, sim, started, cpu, share=None) -> dict:
    inside = (curve["low"] <= truth) & (truth <= curve["high"])
    supported = {} if share is None else {
        "median_share": float(np.median(share)),
        "coverage_supported": float(inside[share < SUPPORTED].mean()) if (share < SUPPORTED).any() else None,
        "coverage_off_support": float(inside[share >= SUPPORTED].mean()) if (share >= SUPPORTED).any() else None}
    return {"seed": seed, "estimator": name, "mise": float(np.mean((curve["mu"] - truth) ** 2)), **supported,
            "coverage": float(inside.mean()), "coverage_interior": float(inside[interior].mean()),
            "band_width": float(np.mean(curve["high"] - curve["low"])), "avg_derivative": slope,
            "true_derivative": sim.derivative, "seconds": time.perf_counter() - started,
            "cpu_seconds": time.process_time() - cpu}


def replicate(seed: int, n: int) -> list[dict]:
    from data.dose_dgps import vcnet_style
    from estimators.base import CausalData
    from estimators.deep.adapters import DrNet, VcNet

    sim = vcnet_style(n=n, seed=seed)
    grid = sim.grid()
    truth = sim.mu(grid)
    q10, q90 = np.quantile(sim.t, [0.1, 0.9])
    interior = (grid >= q10) & (grid <= q90)
    data = CausalData.from_frame(sim.frame(), treatment="dose", outcome="y",
                                 adjustment=[f"x{i + 1}" for i in range(sim.x.shape[1])], treatment_type="continuous")
    rows = []
    for name, cls in (("vcnet", VcNet), ("drnet", DrNet)):
        started, cpu = time.perf_counter(), time.process_time()
        estimate = cls(seed=seed).fit(data).estimate_  # registry defaults: 10 members, DR curve
        curve = {k: np.asarray(v) for k, v in estimate.details["dose_response"].items()
                 if k in ("mu", "low", "high", "network_mu", "network_sd", "correction", "off_support_share",
                          "sandwich_se")}
        share = curve.get("off_support_share")
        rows.append(_score(seed, name, curve, truth, interior, estimate.value, sim, started, cpu, share))
        if "correction" in curve:  # the same DR curve with the earlier bands: variance only, + the correction
            variance = Z95 * np.sqrt(curve["sandwich_se"] ** 2 + curve["network_sd"] ** 2)
            for label, half in (("variance_band", variance), ("correction_band", variance + curve["correction"])):
                earlier = {"mu": curve["mu"], "low": curve["mu"] - half, "high": curve["mu"] + half}
                rows.append(_score(seed, f"{name}_{label}", earlier, truth, interior, estimate.value, sim, started,
                                   cpu, share))
        network = {"mu": curve["network_mu"], "low": curve["network_mu"] - Z95 * curve["network_sd"],
                   "high": curve["network_mu"] + Z95 * curve["network_sd"]}
        rows.append(_score(seed, f"{name}_network", network, truth, interior, estimate.value, sim, started, cpu))
    started, cpu = time.perf_counter(), time.process_time()
    curve = hirano_imbens(sim.x, sim.t, sim.y, grid, seed)
    rows.append(_score(seed, "hirano_imbens", curve, truth, interior, None, sim, started, cpu))
    return rows


def _mean(rows, key, percent=False) -> str:
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return "-"
    return f"{np.mean(values):.0%}" if percent else f"{np.median(values):.2f}"


def table(path: str) -> str:
    rows = [json.loads(line) for line in open(path)]
    lines = ["| estimator | reps | MISE, median [IQR] | band covers mu(t): mean share of grid points | "
             "replicates with >= 90% covered | interior (10-90% quantiles): mean share covered | mean band width | "
             "avg. derivative error, median | s (CPU) per fit | off-support share, median | covered where share "
             f"< {SUPPORTED} | covered where share >= {SUPPORTED} |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("vcnet", "vcnet_correction_band", "vcnet_variance_band", "vcnet_network", "drnet",
                 "drnet_correction_band", "drnet_variance_band", "drnet_network", "hirano_imbens"):
        mine = [r for r in rows if r["estimator"] == name]
        if not mine:
            continue
        mise = [r["mise"] for r in mine]
        slope = [abs(r["avg_derivative"] - r["true_derivative"]) for r in mine if r["avg_derivative"] is not None]
        lines.append(f"| {name} | {len(mine)} | {np.median(mise):.4f} [{np.quantile(mise, .25):.4f}, "
                     f"{np.quantile(mise, .75):.4f}] | {np.mean([r['coverage'] for r in mine]):.0%} | "
                     f"{np.mean([r['coverage'] >= 0.9 for r in mine]):.0%} | "
                     f"{np.mean([r['coverage_interior'] for r in mine]):.0%} | "
                     f"{np.mean([r['band_width'] for r in mine]):.3f} | "
                     f"{(f'{np.median(slope):.3f}' if slope else '-')} | "
                     f"{np.median([r['cpu_seconds'] for r in mine]):.1f} | {_mean(mine, 'median_share')} | "
                     f"{_mean(mine, 'coverage_supported', percent=True)} | "
                     f"{_mean(mine, 'coverage_off_support', percent=True)} |")
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
