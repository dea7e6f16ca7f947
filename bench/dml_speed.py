"""Linear DML at 1e6 rows in memory: whyflow's streaming/numpy implementation vs EconML's LinearDML
with the same nuisance models (OLS for Y, whyflow's logistic IRLS for T, 5 folds), plus EconML's
LinearDML with its default ('auto') nuisances at 1e4 rows. Same data for both at each size.

Usage: python bench/dml_speed.py [--rows 1000000] [--repeats 3] [--default-rows 10000]
       [--out bench/results/dml_speed.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one thread per process, as every whyflow run (README "Threads")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from data.generate import coupon_campaign  # noqa: E402
from estimators import registry  # noqa: E402
from estimators.base import CausalData  # noqa: E402

ADJUST = ["historical_gmv", "user_activity", "purchase_frequency", "member_level"]


def _data(rows: int, seed: int) -> CausalData:
    frame, _ = coupon_campaign(rows=rows, seed=seed)
    return CausalData.from_frame(frame, treatment="coupon_sent", outcome="gmv", adjustment=ADJUST,
                                 modifiers=["member_level"], segments=["member_level"])


def _timed(name: str, data: CausalData, repeats: int, **options) -> tuple[list[float], object]:
    times, estimate = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        estimate = registry.get(name)(seed=1, **options).fit(data).estimate_
        times.append(time.perf_counter() - started)
    return times, estimate


def _econml_default(data: CausalData) -> tuple[float, float, float]:
    from econml.dml import LinearDML

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LinearDML(discrete_treatment=True, random_state=1).fit(data.Y, data.T.astype(int), X=data.X,
                                                                         W=data.W)
        inference = model.ate_inference(X=data.X)
    seconds = time.perf_counter() - started
    return seconds, float(np.ravel(inference.mean_point)[0]), float(np.ravel(inference.stderr_mean)[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--default-rows", type=float, default=1e4)
    parser.add_argument("--out", type=Path, default=Path("bench/results/dml_speed.md"))
    args = parser.parse_args(argv)
    rows = int(args.rows)
    data = _data(rows, seed=2026)
    ours_t, ours = _timed("stream_linear_dml", data, args.repeats)
    econ_t, econ = _timed("linear_dml", data, args.repeats)
    small = _data(int(args.default_rows), seed=2027)
    small_t, small_ours = _timed("stream_linear_dml", small, 1)
    default_s, default_ate, default_se = _econml_default(small)
    speedup = statistics.median(econ_t) / statistics.median(ours_t)
    gap = abs(ours.value - econ.value) / econ.std_error
    lines = [
        "# Linear DML: whyflow streaming/numpy vs EconML LinearDML", "",
        f"Date: {datetime.date.today()}. Machine: 2 cores, 24 GiB, no GPU; one BLAS thread per process.",
        f"Command: `python bench/dml_speed.py --rows {rows} --repeats {args.repeats} --default-rows "
        f"{int(args.default_rows)}` (coupon campaign generator, 5 folds, ATE with 95% CI; medians of the repeats).",
        f"Load average at the end: {os.getloadavg()[0]:.1f} (other processes share the cores; the ratio is the "
        "comparable number).", "",
        "| implementation | rows | nuisances | median s | runs (s) | ATE | SE | 95% CI |",
        "|---|---:|---|---:|---|---:|---:|---|",
        f"| whyflow stream_linear_dml | {rows:,} | OLS / logistic IRLS | {statistics.median(ours_t):.2f} | "
        f"{', '.join(f'{t:.2f}' for t in ours_t)} | {ours.value:.3f} | {ours.std_error:.3f} | "
        f"[{ours.ci_low:.3f}, {ours.ci_high:.3f}] |",
        f"| EconML LinearDML (whyflow linear_dml) | {rows:,} | OLS / logistic IRLS | {statistics.median(econ_t):.2f} | "
        f"{', '.join(f'{t:.2f}' for t in econ_t)} | {econ.value:.3f} | {econ.std_error:.3f} | "
        f"[{econ.ci_low:.3f}, {econ.ci_high:.3f}] |",
        f"| whyflow stream_linear_dml | {int(args.default_rows):,} | OLS / logistic IRLS | {small_t[0]:.2f} | | "
        f"{small_ours.value:.3f} | {small_ours.std_error:.3f} | |",
        f"| EconML LinearDML, default ('auto') nuisances | {int(args.default_rows):,} | model selection | "
        f"{default_s:.2f} | | {default_ate:.3f} | {default_se:.3f} | |", "",
        f"Speed-up at {rows:,} rows: **{speedup:.1f}x** (target >= 5x). Estimates differ by "
        f"**{gap:.3f} SE** (target <= 0.2; the folds differ: hash folds vs EconML's stratified random folds).",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
