"""A hidden confounder seen through noisy proxies (data/proxy_dgps.py): does CEVAE remove the bias that
adjusting for the proxies leaves? Bias and RMSE of the ATE (truth 1.5) per cell of (number of proxies,
proxy noise), replicates seed = 1..R.

Compared: the unadjusted difference in means; OLS of Y on T and the proxies (the back-door estimate
a user would get by treating the proxies as the confounders); OLS on T and the hidden z (the oracle);
CEVAE (estimators/deep/cevae.py, the registry defaults but 5 members and at most `--max-epochs`
epochs: the point estimate is what is scored here, and the ELBO kept creeping down for all 300
default epochs at a cost of ~100 CPU s per fit on this machine).

    OMP_NUM_THREADS=1 nice -n 10 python bench/deep_proxy.py --replicates 1-2 --n 1000 --max-epochs 100 --out /tmp/proxy.jsonl
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


def replicate(seed: int, n: int, max_epochs: int):
    from data.proxy_dgps import hidden_confounder
    from estimators.deep.cevae import fit_cevae
    from estimators.deep.train import TrainSettings

    for n_proxies, noise in CELLS:
        sim = hidden_confounder(n=n, seed=seed, n_proxies=n_proxies, noise=noise)
        started = time.process_time()
        fit = fit_cevae(sim.proxies, sim.t, sim.y, n_members=5, seed=seed, settings=TrainSettings(max_epochs=max_epochs))
        cevae = float(fit.cate(sim.proxies).mean())
        estimates = {"difference_in_means": float(sim.y[sim.t == 1].mean() - sim.y[sim.t == 0].mean()),
                     "ols_on_proxies": _ols_effect(sim.t, sim.y, sim.proxies),
                     "ols_on_hidden_z (oracle)": _ols_effect(sim.t, sim.y, sim.z), "cevae": cevae}
        for name, value in estimates.items():
            yield ({"seed": seed, "proxies": n_proxies, "noise": noise, "estimator": name, "ate": value,
                         "truth": sim.ate, "cpu_seconds": time.process_time() - started if name == "cevae" else None})


def table(path: str) -> str:
    rows = [json.loads(line) for line in open(path)]
    names = list(dict.fromkeys(r["estimator"] for r in rows))
    lines = ["| proxies | noise SD | " + " | ".join(f"{n}: bias (RMSE)" for n in names) + " | reps |",
             "|---:|---:|" + "---|" * len(names) + "---:|"]
    for n_proxies, noise in CELLS:
        cells = []
        for name in names:
            err = np.array([r["ate"] - r["truth"] for r in rows
                            if r["estimator"] == name and r["proxies"] == n_proxies and r["noise"] == noise])
            cells.append(f"{err.mean():+.2f} ({np.sqrt(np.mean(err**2)):.2f})" if err.size else "-")
        reps = len({r["seed"] for r in rows if r["proxies"] == n_proxies and r["noise"] == noise})
        lines.append(f"| {n_proxies} | {noise} | " + " | ".join(cells) + f" | {reps} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", default="1-5")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--out")
    parser.add_argument("--table")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return
    low, high = (int(v) for v in args.replicates.split("-"))
    with open(args.out, "a") as sink:
        for seed in range(low, high + 1):
            for row in replicate(seed, args.n, args.max_epochs):
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
