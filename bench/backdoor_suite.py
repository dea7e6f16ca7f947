"""Back-door and EconML heterogeneous-effect estimators on the full demo data (124,300 users).

For each estimator (and a few non-default nuisance choices): the ATE, its 95% CI, whether it covers
the known truth, seconds, and how many of the four member-level CATE intervals cover the true level
effects. One run, one seed: a timing and sanity table, not a coverage study (tests/ hold those).

Usage: python bench/backdoor_suite.py [--rows N] [--out bench/results/backdoor-suite-coupon_618.md]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from whyflow.threads import pin_threads  # noqa: E402

pin_threads()

from data.generate import coupon_campaign  # noqa: E402
from estimators import get  # noqa: E402
from estimators.base import CausalData  # noqa: E402

RUNS = [
    ("linear_regression", {}), ("ps_stratification", {}), ("ipw", {}), ("ipw", {"stabilize": False}),
    ("ps_matching", {}), ("aipw", {}), ("linear_dml", {}), ("sparse_linear_dml", {}), ("causal_forest", {}),
    ("dr_learner", {}), ("s_learner", {}), ("t_learner", {}), ("x_learner", {}),
    ("aipw", {"outcome_model": "lightgbm", "propensity_model": "lightgbm"}),
    ("linear_dml", {"outcome_model": "lightgbm", "propensity_model": "lightgbm"}),
    ("dr_learner", {"outcome_model": "lightgbm", "propensity_model": "lightgbm"}),
    ("causal_forest", {"outcome_model": "lightgbm", "propensity_model": "lightgbm"}),
    ("causal_forest", {"n_estimators": 200, "min_samples_leaf": 20}),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--out", default="bench/results/backdoor-suite-coupon_618.md")
    args = parser.parse_args()
    frame, truth = coupon_campaign(rows=args.rows, seed=618)
    data = CausalData.from_frame(frame, treatment="coupon_sent", outcome="gmv",
                                 adjustment=["historical_gmv", "member_level", "purchase_frequency", "user_activity"],
                                 modifiers=["member_level"], segments=["member_level"])
    levels = truth["cate_by_segment"]["member_level"]
    lines = [
        "# Back-door suite on the coupon demo",
        "",
        f"Date: {datetime.date.today()}. Machine: 2 cores, 24 GiB, no GPU ({platform.python_version()}, one thread "
        "per process). Data: `data.generate.coupon_campaign(seed=618)`, "
        f"{data.n:,} rows, true ATE {truth['ate']:.2f}; adjustment: historical_gmv, member_level, "
        "purchase_frequency, user_activity; effect modifier and segment: member_level.",
        "",
        "Command: `OMP_NUM_THREADS=1 python bench/backdoor_suite.py`",
        "",
        "| estimator | options | ATE | 95% CI | covers truth | seconds | level CIs covering the level truth |",
        "|---|---|---:|---|:---:|---:|:---:|",
    ]
    for name, options in RUNS:
        started = time.perf_counter()
        est = get(name)(seed=42, **options).fit(data).estimate_
        seconds = time.perf_counter() - started
        segs = "–"
        if est.segments:
            rows = est.segments["member_level"]
            hits = sum(r["ci_low"] <= levels[r["segment"]]["effect"] <= r["ci_high"] for r in rows)
            segs = f"{hits}/{len(rows)}"
        covers = "yes" if est.ci_low <= truth["ate"] <= est.ci_high else "**no**"
        text = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
        line = (f"| {name} | {text} | {est.value:.2f} | [{est.ci_low:.2f}, {est.ci_high:.2f}] | {covers} | "
                f"{seconds:.1f} | {segs} |" if est.ok else f"| {name} | {text} | {est.status}: {est.error} | | | | |")
        print(line, flush=True)
        lines.append(line)
    lines += ["", "Level truths: " + ", ".join(f"{k} {v['effect']}" for k, v in levels.items()) + "."]
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
