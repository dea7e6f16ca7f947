"""A hidden confounder seen through noisy proxies (data/proxy_dgps.py): does CEVAE remove the bias that
adjusting for the proxies leaves? Bias and RMSE of the ATE (truth 1.5) per cell of (number of proxies,
proxy noise), replicates seed = 1..R, with the Monte Carlo standard error of each bias (SD / sqrt(R)).

Compared: the unadjusted difference in means; OLS of Y on T and the proxies (the back-door estimate
a user would get by treating the proxies as the confounders); OLS on T and the hidden z (the oracle);
CEVAE through the registry estimator (estimators/deep/adapters.py::Cevae) with its defaults (10 members,
latent_dim 5, hidden (64, 64), learning rate 3e-3, max_epochs 300, patience 20, ATE = plugin), so the
bench scores what a user gets. Its interval is `ate_interval(0.05)` and the table reports how often it
covers the true ATE. `--max-epochs` / `--members` override the defaults (for quick runs only).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 nice -n 5 python bench/deep_proxy.py \
        --replicates 1-10 --n 1000 --out /tmp/proxy.jsonl
    python bench/deep_proxy.py --table /tmp/proxy.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CELLS = [(1, 1.0), (5, 0.5), (5, 1.0), (5, 2.0), (20, 1.0)]


def _ols_effect(t, y, *controls) -> float:
    design = np.column_stack([np.ones(len(t)), t, *controls])
    return float(np.linalg.lstsq(design, y, rcond=None)[0][1])


def replicate(seed: int, n: int, max_epochs: int | None = None, members: int | None = None, cells=CELLS):
    from data.proxy_dgps import hidden_confounder
    from estimators.base import CausalData
    from estimators.deep.adapters import Cevae

    overrides = {k: v for k, v in (("max_epochs", max_epochs), ("members", members)) if v is not None}
    for n_proxies, noise in cells:
        sim = hidden_confounder(n=n, seed=seed, n_proxies=n_proxies, noise=noise)
        names = [f"proxy{i + 1}" for i in range(n_proxies)]
        data = CausalData.from_frame(sim.frame(), treatment="treated", outcome="y", adjustment=[], proxies=names)
        started = time.process_time()
        model = Cevae(seed=seed, **overrides).fit(data)
        cpu = time.process_time() - started
        estimate = model.estimate_
        if not estimate.ok:
            raise RuntimeError(f"cevae failed: {estimate.error}")
        low, high = model.ate_interval(0.05)
        training = estimate.details["training"]
        cevae = {"ate": model.ate(), "ci_low": float(low), "ci_high": float(high), "cpu_seconds": cpu,
                 "epochs_run": training["epochs_run"], "best_epoch_median": training["best_epoch_median"],
                 "members": training["members"], "options": model.options.model_dump()}
        estimates = {"difference_in_means": {"ate": float(sim.y[sim.t == 1].mean() - sim.y[sim.t == 0].mean())},
                     "ols_on_proxies": {"ate": _ols_effect(sim.t, sim.y, sim.proxies)},
                     "ols_on_hidden_z (oracle)": {"ate": _ols_effect(sim.t, sim.y, sim.z)}, "cevae": cevae}
        for name, values in estimates.items():
            yield {"seed": seed, "n": n, "proxies": n_proxies, "noise": noise, "estimator": name, **values,
                   "truth": sim.ate}


def table(path: str) -> str:
    rows = [json.loads(line) for line in open(path)]
    names = list(dict.fromkeys(r["estimator"] for r in rows))
    lines = ["| proxies | noise SD | " + " | ".join(f"{n}: bias ± MC SE (RMSE)" for n in names)
             + " | cevae 95% CI coverage | cevae CI width | reps |",
             "|---:|---:|" + "---|" * len(names) + "---:|---:|---:|"]
    for n_proxies, noise in CELLS:
        here = [r for r in rows if r["proxies"] == n_proxies and r["noise"] == noise]
        cells = []
        for name in names:
            err = np.array([r["ate"] - r["truth"] for r in here if r["estimator"] == name])
            mc = err.std(ddof=1) / np.sqrt(err.size) if err.size > 1 else float("nan")
            cells.append(f"{err.mean():+.2f} ± {mc:.2f} ({np.sqrt(np.mean(err**2)):.2f})" if err.size else "-")
        intervals = [r for r in here if r["estimator"] == "cevae" and "ci_low" in r]
        if intervals:
            hits = sum(r["ci_low"] <= r["truth"] <= r["ci_high"] for r in intervals)
            width = np.mean([r["ci_high"] - r["ci_low"] for r in intervals])
            coverage, width = f"{hits}/{len(intervals)}", f"{width:.2f}"
        else:
            coverage = width = "-"
        reps = len({r["seed"] for r in here})
        lines.append(f"| {n_proxies} | {noise} | " + " | ".join(cells) + f" | {coverage} | {width} | {reps} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", default="1-5")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--max-epochs", type=int, default=None, help="override the registry default (300)")
    parser.add_argument("--members", type=int, default=None, help="override the registry default (10)")
    parser.add_argument("--out")
    parser.add_argument("--table")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    low, high = (int(v) for v in args.replicates.split("-"))
    with open(args.out, "a") as sink:
        for seed in range(low, high + 1):
            for row in replicate(seed, args.n, args.max_epochs, args.members):
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
