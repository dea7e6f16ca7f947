"""IHDP response surface B (Hill 2011, the covariates EconML ships): sqrt(PEHE) and ATE error of the deep
estimators next to the registry's CATE estimators, over replicates random_state = 1..50.

Each replicate: a seeded 90/10 split; every estimator fits on the 90% (in-sample sqrt(PEHE) and the
error of the sample's ATE there, plus whether its 95% CI covers that sample ATE) and predicts the
10% through `effect` (out-of-sample sqrt(PEHE)). All estimators see the 25 covariates (the constant
column dropped) as adjustment and as effect modifiers. Replicates >= 1000 are held out for checks;
nothing was tuned on them.

    OMP_NUM_THREADS=1 nice -n 10 python bench/deep_ihdp.py run --replicates 1-50 --members 5 --out /tmp/ihdp.jsonl
    python bench/deep_ihdp.py table /tmp/ihdp*.jsonl          # medians, IQRs, coverage, seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEEP = ["tarnet", "cfrnet", "dragonnet", "dcn_pd", "cevae"]
BASELINES = ["causal_forest", "t_learner", "x_learner", "s_learner", "dr_learner", "linear_dml", "sparse_linear_dml",
             "linear_regression"]
# the meta-learners' bootstrap refits 50 times for a CI this table does not use
OPTIONS = {"t_learner": {"bootstrap": 0}, "x_learner": {"bootstrap": 0}, "s_learner": {"bootstrap": 0}}


def _classes():
    import estimators.deep.adapters  # noqa: F401  (registers the deep estimators before the registry lists them)
    from estimators.registry import get

    return {name: get(name) for name in DEEP + BASELINES}


def _data(y, t, x, names, proxies: bool):
    from estimators.base import CausalData

    return CausalData(Y=y, T=t, covariates=x, X=x, covariate_names=names, x_names=names,
                      proxies=x if proxies else None, proxy_names=names if proxies else [])


def replicate(k: int, names: list[str], members: int):
    from econml.data.dgps import ihdp_surface_B

    y, t, x, te = ihdp_surface_B(random_state=k)
    x = x[:, 1:]  # drop the constant column
    cols = [f"x{i}" for i in range(x.shape[1])]
    test = np.zeros(len(y), dtype=bool)
    test[np.random.default_rng(k).permutation(len(y))[: len(y) // 10]] = True
    train = _data(y[~test], t[~test].astype(float), x[~test], cols, proxies=True)
    holdout = _data(y[test], t[test].astype(float), x[test], cols, proxies=True)
    classes = _classes()
    for name in names:
        options = {**OPTIONS.get(name, {}), **({"members": members} if name in DEEP else {})}
        model = classes[name](seed=k, **options)
        started, cpu = time.perf_counter(), time.process_time()
        estimate = model.fit(train).estimate_
        seconds = time.perf_counter() - started
        row = {"replicate": k, "estimator": name, "seconds": seconds, "cpu_seconds": time.process_time() - cpu,
               "status": estimate.status, "error": estimate.error, "options": options}
        if estimate.ok:
            sate = float(te[~test].mean())
            out = model.effect(model.features(holdout))
            row.update({"pehe_in": float(np.sqrt(np.mean((estimate.cate - te[~test]) ** 2))),
                        "pehe_out": float(np.sqrt(np.mean((np.ravel(out) - te[test]) ** 2))),
                        "ate_error": float(abs(estimate.value - sate)),
                        "covers": bool(estimate.ci_low <= sate <= estimate.ci_high)
                        if np.isfinite(estimate.ci_low) else None,
                        "ci_width": float(estimate.ci_high - estimate.ci_low) if np.isfinite(estimate.ci_low) else None})
            plugin = estimate.details.get("plugin")
            if plugin and np.isfinite(plugin["std_error"]) and "aipw" in estimate.details:
                # the same fit's plug-in answer (members' mean +- 1.96 SD): before/after on identical networks
                half = 1.959963984540054 * plugin["std_error"]
                row.update({"plugin_ate_error": float(abs(plugin["value"] - sate)),
                            "plugin_covers": bool(abs(plugin["value"] - sate) <= half)})
        yield row


def run(args) -> None:
    low, high = (int(v) for v in args.replicates.split("-"))
    names = args.estimators.split(",") if args.estimators else DEEP + BASELINES
    with open(args.out, "a") as sink:
        for k in range(low, high + 1):
            if args.stride and k % args.stride[1] != args.stride[0]:
                continue
            for row in replicate(k, names, args.members):
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                print(json.dumps({key: (round(v, 3) if isinstance(v, float) else v) for key, v in row.items()}),
                      flush=True)


def _q(values, q):
    return float(np.quantile(values, q)) if len(values) else float("nan")


def table(paths: list[str]) -> str:
    rows = [json.loads(line) for path in paths for line in open(path)]
    latest = {(r["replicate"], r["estimator"]): r for r in rows}  # a rerun of a replicate replaces it
    lines = ["| estimator | reps | sqrt(PEHE) in, median [IQR] | sqrt(PEHE) out, median [IQR] | "
             "ATE abs. error, median [IQR] | 95% CI covers the sample ATE | same fits, plug-in: covers, median error | "
             "CPU s per fit, median |",
             "|---|---:|---|---|---|---:|---:|---:|"]
    for name in DEEP + BASELINES:
        mine = [r for r in latest.values() if r["estimator"] == name and r["status"] == "ok"]
        if not mine:
            continue

        def cell(key):
            v = [r[key] for r in mine]
            return f"{np.median(v):.2f} [{_q(v, .25):.2f}, {_q(v, .75):.2f}]"

        covered = [r["covers"] for r in mine if r["covers"] is not None]
        cover = f"{np.mean(covered):.0%} of {len(covered)}" if covered else "no CI"
        plugin = [r for r in mine if "plugin_covers" in r]
        before = (f"{np.mean([r['plugin_covers'] for r in plugin]):.0%}, "
                  f"{np.median([r['plugin_ate_error'] for r in plugin]):.2f}") if plugin else "-"
        lines.append(f"| {name} | {len(mine)} | {cell('pehe_in')} | {cell('pehe_out')} | {cell('ate_error')} | "
                     f"{cover} | {before} | {np.median([r['cpu_seconds'] for r in mine]):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--replicates", default="1-50")
    r.add_argument("--estimators", default="")
    r.add_argument("--stride", type=lambda s: tuple(int(v) for v in s.split("/")), default=None,
                   help="i/m: only replicates k with k %% m == i (to split the run over processes)")
    r.add_argument("--members", type=int, default=10, help="ensemble members of the deep estimators")
    r.add_argument("--out", required=True)
    t = sub.add_parser("table")
    t.add_argument("paths", nargs="+")
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    else:
        print(table(args.paths))


if __name__ == "__main__":
    main()
