"""Demo data with known truth: the 618 coupon campaign and a churn campaign.

The coupon campaign follows shared/reference/000 section VI: 124,300 users in four member levels,
coupons sent non-randomly (from historical GMV, activity, purchase frequency and member level), and
a campaign GMV whose true coupon effect differs by level (78.2, 61.5, 45.3, 38.1). The effect is
constant within a level, so the true ATE, ATT and ATC of the generated sample are known exactly and
written next to the data as <name>.truth.json.

Usage: python -m data.generate [coupon_618] [churn] [--rows N] [--seed S] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["LEVELS", "ACTIVITY_P", "HISTORY_MEAN", "coupon_campaign", "churn_campaign", "write_dataset", "main"]

# member level: (users, true coupon effect on GMV, base GMV, propensity shift)
LEVELS = {
    "SVIP": (8_900, 78.2, 260.0, 0.8),
    "VIP": (23_400, 61.5, 170.0, 0.4),
    "regular": (76_200, 45.3, 90.0, 0.0),
    "new": (15_800, 38.1, 40.0, -0.6),
}
HISTORY_MEAN = {"SVIP": 2400.0, "VIP": 1300.0, "regular": 600.0, "new": 180.0}
ACTIVITY_P = {"SVIP": 0.55, "VIP": 0.45, "regular": 0.32, "new": 0.25}


def _level_column(rng: np.random.Generator, total: int | None) -> np.ndarray:
    counts = np.array([spec[0] for spec in LEVELS.values()])
    if total is not None and total != counts.sum():
        counts = np.floor(counts / counts.sum() * total).astype(int)
        counts[2] += total - counts.sum()
    levels = np.repeat(np.array(list(LEVELS)), counts)
    return rng.permutation(levels)


def _truth(effect: np.ndarray, treated: np.ndarray, levels: np.ndarray, naive: float) -> dict:
    frame = pd.DataFrame({"effect": effect, "treated": treated, "level": levels})
    by_level = frame.groupby("level", sort=False).agg(n=("effect", "size"), effect=("effect", "mean"))
    return {
        "ate": float(effect.mean()),
        "att": float(effect[treated == 1].mean()),
        "atc": float(effect[treated == 0].mean()),
        "naive_difference": naive,
        "cate_by_segment": {
            "member_level": {lvl: {"n": int(r.n), "effect": float(r.effect)} for lvl, r in by_level.iterrows()}
        },
    }


def coupon_campaign(rows: int | None = None, seed: int = 618) -> tuple[pd.DataFrame, dict]:
    """The 618 coupon campaign; rows defaults to the article's 124,300 users."""
    rng = np.random.default_rng(seed)
    level = _level_column(rng, rows)
    n = level.size
    history_mean = np.vectorize(HISTORY_MEAN.get)(level)
    historical_gmv = rng.gamma(shape=6.0, scale=history_mean / 6.0)
    user_activity = rng.binomial(30, np.vectorize(ACTIVITY_P.get)(level)).astype(float)
    purchase_frequency = rng.poisson(1.0 + historical_gmv / 400.0 + user_activity / 10.0).astype(float)

    shift = np.vectorize(lambda lv: LEVELS[lv][3])(level)
    logit = (-1.2 + 0.4 * (historical_gmv - 800.0) / 700.0 + 0.8 * (user_activity - 10.0) / 5.0
             + 0.15 * (purchase_frequency - 4.0) / 2.0 + shift)
    propensity = 1.0 / (1.0 + np.exp(-logit))
    coupon_sent = rng.binomial(1, propensity)

    effect = np.vectorize(lambda lv: LEVELS[lv][1])(level)
    base = np.vectorize(lambda lv: LEVELS[lv][2])(level)
    gmv = (base + 0.12 * historical_gmv + 4.0 * user_activity + 9.0 * purchase_frequency
           + effect * coupon_sent + rng.normal(0.0, 150.0, n))

    frame = pd.DataFrame({
        "user_id": np.arange(1, n + 1, dtype=np.int64),
        "member_level": pd.Categorical(level, categories=list(LEVELS)).astype(str),
        "historical_gmv": historical_gmv.round(2),
        "user_activity": user_activity,
        "purchase_frequency": purchase_frequency,
        "coupon_sent": coupon_sent.astype(np.int64),
        "gmv": gmv.round(2),
    })
    # The truth uses the rounded outcome's generating effects, which rounding does not change.
    naive = float(frame.gmv[coupon_sent == 1].mean() - frame.gmv[coupon_sent == 0].mean())
    truth = _truth(effect, coupon_sent, level, naive)
    truth["description"] = "effect of coupon_sent on campaign gmv; constant within member_level"
    return frame, truth


def churn_campaign(rows: int = 60_000, seed: int = 32) -> tuple[pd.DataFrame, dict]:
    """Coupons sent to users at high churn risk: the naive association is positive, the effect -3.2 pp."""
    rng = np.random.default_rng(seed)
    days_since_order = rng.gamma(2.0, 15.0, rows)
    complaints = rng.poisson(0.4, rows).astype(float)
    tenure_months = rng.uniform(1.0, 48.0, rows)
    risk = np.clip(0.06 + 0.004 * days_since_order + 0.06 * complaints - 0.002 * tenure_months, 0.05, 0.75)
    logit = -1.6 + 5.0 * (risk - 0.2) + 0.3 * complaints
    coupon_sent = rng.binomial(1, 1.0 / (1.0 + np.exp(-logit)))
    effect = -0.032
    churned = rng.binomial(1, np.clip(risk + effect * coupon_sent, 0.0, 1.0))
    frame = pd.DataFrame({
        "user_id": np.arange(1, rows + 1, dtype=np.int64),
        "days_since_order": days_since_order.round(1),
        "complaints": complaints,
        "tenure_months": tenure_months.round(1),
        "coupon_sent": coupon_sent.astype(np.int64),
        "churned": churned.astype(np.int64),
    })
    naive = float(frame.churned[coupon_sent == 1].mean() - frame.churned[coupon_sent == 0].mean())
    truth = {
        "ate": effect, "att": effect, "atc": effect, "naive_difference": naive,
        "description": "effect of coupon_sent on the churn probability (risk difference), constant",
    }
    return frame, truth


GENERATORS = {"coupon_618": coupon_campaign, "churn": churn_campaign}


def write_dataset(name: str, out_dir: Path, rows: int | None = None, seed: int | None = None) -> Path:
    """Write <out_dir>/<name>.parquet and <name>.truth.json; returns the data path."""
    kwargs = {k: v for k, v in (("rows", rows), ("seed", seed)) if v is not None}
    frame, truth = GENERATORS[name](**kwargs)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.parquet"
    tmp = path.with_suffix(".parquet.tmp")
    frame.to_parquet(tmp, index=False)
    tmp.replace(path)
    truth.update(rows=len(frame), generator=f"data.generate:{GENERATORS[name].__name__}", seed=seed)
    (out_dir / f"{name}.truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.generate", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["coupon_618"], choices=sorted(GENERATORS))
    parser.add_argument("--rows", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--out", type=Path, default=Path("data/raw"))
    args = parser.parse_args(argv)
    for name in args.names:
        path = write_dataset(name, args.out, rows=args.rows, seed=args.seed)
        truth = json.loads(path.with_name(f"{name}.truth.json").read_text())
        print(f"wrote {path} ({truth['rows']:,} rows; true ATE {truth['ate']:.4g}, "
              f"naive difference {truth['naive_difference']:.4g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
