"""Speed of the deep estimators on one core: one IHDP replicate per network (first fit, which pays the
XLA compilation, and a second fit in the same process), and DragonNet on 124,300 rows x 10 columns
(the size of the coupon_618 demo) to early stopping.

Wall seconds and CPU seconds (this process) are both recorded: on a machine shared with other jobs
the CPU seconds are the per-core cost.

    OMP_NUM_THREADS=1 nice -n 10 python bench/deep_speed.py ihdp
    OMP_NUM_THREADS=1 nice -n 10 python bench/deep_speed.py large               # registry default members
    OMP_NUM_THREADS=1 nice -n 10 python bench/deep_speed.py large --members 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _timed(model, data) -> dict:
    wall, cpu = time.perf_counter(), time.process_time()
    estimate = model.fit(data).estimate_
    training = estimate.details.get("training", {})
    return {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2),
            "status": estimate.status, "epochs": training.get("epochs_run"), "members": training.get("members"),
            "ate": round(estimate.value, 3), "ci": [round(estimate.ci_low, 3), round(estimate.ci_high, 3)]}


def ihdp(networks: list[str]) -> None:
    from econml.data.dgps import ihdp_surface_B

    import estimators.deep.adapters  # noqa: F401
    from estimators.base import CausalData
    from estimators.registry import get

    y, t, x, _ = ihdp_surface_B(random_state=1)
    x = x[:, 1:]
    names = [f"x{i}" for i in range(x.shape[1])]
    data = CausalData(Y=y, T=t.astype(float), covariates=x, X=x, covariate_names=names, x_names=names,
                      proxies=x, proxy_names=names)
    for name in networks:
        first = _timed(get(name)(seed=1), data)
        second = _timed(get(name)(seed=2), data)
        print(json.dumps({"network": name, "rows": len(y), "first_fit": first, "second_fit": second}), flush=True)


def large(members: int, rows: int) -> None:
    import estimators.deep.adapters as adapters
    from estimators.base import CausalData

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 10))
    t = (rng.random(rows) < 1 / (1 + np.exp(-(0.5 * x[:, 0] - 0.3 * x[:, 1])))).astype(float)
    y = 50 + 10 * x[:, 0] + 5 * np.sin(x[:, 2]) + t * (3 + 2 * (x[:, 3] > 0)) + rng.normal(0, 10, rows)
    names = [f"x{i}" for i in range(10)]
    data = CausalData(Y=y, T=t, covariates=x, X=x, covariate_names=names, x_names=names)
    truth = float(np.mean(3 + 2 * (x[:, 3] > 0)))
    result = _timed(adapters.DragonNet(seed=0, members=members), data)
    print(json.dumps({"network": "dragonnet", "rows": rows, "members": members, "truth": round(truth, 3), **result}),
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["ihdp", "large"])
    parser.add_argument("--members", type=int, default=0, help="ensemble members; 0 = the registry default")
    parser.add_argument("--networks", default="tarnet,cfrnet,dragonnet,dcn_pd,cevae")
    parser.add_argument("--rows", type=int, default=124_300)
    args = parser.parse_args()
    ihdp(args.networks.split(",")) if args.what == "ihdp" else large(args.members, args.rows)


if __name__ == "__main__":
    main()
