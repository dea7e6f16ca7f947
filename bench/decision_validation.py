"""Decision-layer validation (tasks/decide) on simulated campaigns with a known CATE and cost.

1. graded: data/decision_dgps.graded_effect_campaign (effect 1 + 2 x1, cost 1.5). Per replication:
   cross-fitted DR scores, out-of-fold CATE of two DR-learners (linear and LightGBM final stage), the
   recommended rule. Scored: the rule's true net gain per unit on a fresh population as a share of
   the best rule's, whether it beats treat-all and treat-none, and whether the reported 95% CI holds
   (a) the true gain of the reported cross-fitted decisions on the sample and (b) the population gain
   of the rule refitted on all rows. Also BLP slope and AUTOC significance and the model chosen.
2. constant: the same with slope 0 (effect 1 everywhere): how often BLP/RATE claim heterogeneity,
   and how often model selection says no model beats the constant effect.
3. coupon_618: the demo generator (per-level effects 78.2/61.5/45.3/38.1) at several coupon costs;
   share of replications whose per-level decision matches the truth (treat a level iff its effect
   exceeds the cost). Feature: member_level.

    nice -n 10 .venv/bin/python bench/decision_validation.py --replications 200 --coupon-replications 20
"""

from __future__ import annotations

from whyflow.threads import pin_threads

pin_threads()  # before numpy loads: one numeric thread per process

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from data.decision_dgps import FEATURES, fresh_population, graded_effect_campaign, oracle_value, true_effect  # noqa: E402
from data.generate import LEVELS, coupon_campaign  # noqa: E402
from estimators.base import CausalData  # noqa: E402
from tasks.decide import (DRLearnerOnScores, cross_fit_cate, decide, doubly_robust_scores,  # noqa: E402
                          select_cate_model, validate_cate)
from whyflow.parallel import map_processes  # noqa: E402

COST = 1.5
ROWS = 4000
COUPON_COSTS = (16.3, 30.0, 50.0, 53.4, 69.85, 100.0)
POPULATION = fresh_population(200_000, seed=12345)


def _learners(case, seed: int) -> dict[str, np.ndarray]:
    return {"dr_linear": cross_fit_cate(DRLearnerOnScores, case.data, seed=seed),
            "dr_lightgbm": cross_fit_cate(DRLearnerOnScores, case.data, seed=seed, options={"final": "lightgbm"})}


def graded_replication(seed: int, slope: float = 2.0) -> dict:
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(5)]
    case = graded_effect_campaign(ROWS, seeds[0], slope=slope, cost=COST)
    scores = doubly_robust_scores(case.data, seed=seeds[1])
    oof = _learners(case, seeds[2])
    validation = validate_cate(scores, oof, seed=seeds[3], bootstrap=200)
    selection = select_cate_model(scores, oof)
    report = decide(case.frame, cate_oof=oof, scores=scores, cost=COST, features=FEATURES, seed=seeds[4])
    kind = report.policy["kind"]
    if report.final_rule is not None:
        final_treat = report.final_rule.decide(POPULATION[FEATURES].to_numpy())
    else:  # a thresholded CATE: the chosen learner refitted on every row
        options = {"final": "lightgbm"} if report.policy["model"] == "dr_lightgbm" else {}
        model = DRLearnerOnScores(seed=seeds[2], **options).fit(case.data)
        final_treat = model.effect(POPULATION[FEATURES].to_numpy()) > COST
    tau_pop = true_effect(POPULATION, slope)
    population_gain = float(((tau_pop - COST) * final_treat).mean())
    sample_gain = float(((case.tau - COST) * report.treat).mean())
    value = report.value
    linear = validation["dr_linear"]
    return {"kind": kind, "population_gain": population_gain, "sample_gain": sample_gain,
            "sample_oracle": float(np.maximum(case.tau - COST, 0).mean()),
            "estimate": value.estimate, "ci_low": value.ci_low, "ci_high": value.ci_high, "std_error": value.std_error,
            "covers_sample": value.ci_low <= sample_gain <= value.ci_high,
            "covers_population": value.ci_low <= population_gain <= value.ci_high,
            "treat_all_true": float((tau_pop - COST).mean()),
            "blp_significant": linear.blp["heterogeneity"].ci_low > 0,
            "blp_slope": linear.blp["heterogeneity"].estimate,
            "blp_slope_covers_1": linear.blp["heterogeneity"].ci_low <= 1 <= linear.blp["heterogeneity"].ci_high,
            "rate_significant": linear.rate["autoc"].ci_low > 0,
            "qini_significant": linear.rate["qini"].ci_low > 0,
            "chosen": selection.chosen,
            "true_better": min(oof, key=lambda k: float(((oof[k] - case.tau) ** 2).mean())),
            "share_treated": report.share_treated}


def constant_replication(seed: int) -> dict:
    return graded_replication(seed, slope=0.0)


def coupon_replication(seed: int) -> dict:
    frame, _ = coupon_campaign(seed=seed)
    data = CausalData.from_frame(frame, treatment="coupon_sent", outcome="gmv",
                                 adjustment=["historical_gmv", "user_activity", "purchase_frequency", "member_level"],
                                 modifiers=["member_level"], categorical=["member_level"])
    scores = doubly_robust_scores(data, seed=seed)
    oof = {"dr_learner": cross_fit_cate(DRLearnerOnScores, data, seed=seed)}
    levels = frame["member_level"].to_numpy()
    out = {}
    for cost in COUPON_COSTS:
        report = decide(frame, cate_oof=oof, scores=scores, cost=cost, features=["member_level"], seed=seed)
        shares = {lv: float(report.treat[levels == lv].mean()) for lv in LEVELS}
        wanted = {lv: LEVELS[lv][1] > cost for lv in LEVELS}
        out[cost] = {"match": all((shares[lv] > 0.5) == wanted[lv] and shares[lv] in (0.0, 1.0) for lv in LEVELS),
                     "rule": report.policy["rule"], "value": report.value.estimate, "roi": report.roi}
    return out


def _rate(flags) -> str:
    flags = np.asarray(list(flags), dtype=float)
    p = flags.mean()
    return f"{p:.3f} ({math.sqrt(max(p * (1 - p), 1e-12) / flags.size):.3f})"


def _mean(values) -> str:
    values = np.asarray(list(values), dtype=float)
    return f"{values.mean():.3f} ({values.std(ddof=1) / math.sqrt(values.size):.3f})"


def _spread(rows) -> float:
    errors = np.array([r["estimate"] - r["sample_gain"] for r in rows])
    return float(errors.std(ddof=1) / np.mean([r["std_error"] for r in rows]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=200)
    parser.add_argument("--constant-replications", type=int, default=200)
    parser.add_argument("--coupon-replications", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "decision-validation.md")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    base = np.random.SeedSequence(20261124)
    seeds = [int(s.generate_state(1)[0]) for s in base.spawn(args.replications)]
    graded = map_processes(graded_replication, seeds, args.workers)
    constant = map_processes(constant_replication, seeds[: args.constant_replications], args.workers)
    coupon = map_processes(coupon_replication, [618 + i for i in range(args.coupon_replications)], args.workers)
    oracle = oracle_value(slope=2.0, cost=COST)
    minutes = (time.perf_counter() - started) / 60
    kinds = {k: sum(r["kind"] == k for r in graded) for k in sorted({r["kind"] for r in graded})}
    lines = [
        "# Decision layer validation (tasks/decide)", "",
        f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: 2 cores (x86_64, Python {sys.version.split()[0]}, one numeric thread per process, nice 10); "
        f"other agents shared the CPU; load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- command: `nice -n 10 .venv/bin/python bench/decision_validation.py --replications {args.replications} "
        f"--constant-replications {args.constant_replications} --coupon-replications {args.coupon_replications} "
        f"--workers {args.workers}`",
        f"- replications: {args.replications} graded and {len(constant)} constant-effect samples of {ROWS:,} rows "
        f"(seeds from SeedSequence(20261124)); {args.coupon_replications} coupon_618 samples of 124,300 rows "
        f"(generator seeds 618..{617 + args.coupon_replications}); wall time {minutes:.1f} min",
        "- rates are shares of replications, with their Monte-Carlo standard error in brackets; means likewise",
        "",
        "## Graded effect: tau(x) = 1 + 2 x1, cost 1.5", "",
        f"Best possible rule (treat x1 > 0.25): {oracle:.4f} per unit on the 200,000-unit population; "
        f"treat everyone: {graded[0]['treat_all_true']:.4f}; treat no one: 0.",
        f"Recommended rule kinds: {', '.join(f'{k} {v}' for k, v in kinds.items())}.", "",
        "| measure | value |", "|---|---:|",
        f"| recommended rule's true gain / best rule's (population, refitted rule) | {_mean(r['population_gain'] / oracle for r in graded)} |",
        f"| share of replications with that ratio >= 0.85 | {_rate(r['population_gain'] >= 0.85 * oracle for r in graded)} |",
        f"| reported decisions' true gain / best on the same sample | {_mean(r['sample_gain'] / r['sample_oracle'] for r in graded)} |",
        f"| beats treat-all and treat-none (true population gain) | {_rate(r['population_gain'] > max(0.0, r['treat_all_true']) for r in graded)} |",
        f"| 95% CI holds the reported decisions' true gain on the sample | {_rate(r['covers_sample'] for r in graded)} |",
        f"| 95% CI holds the refitted rule's true population gain | {_rate(r['covers_population'] for r in graded)} |",
        f"| mean estimate - mean true sample gain | {_mean(r['estimate'] - r['sample_gain'] for r in graded)} |",
        f"| sd of (estimate - true sample gain) / mean reported SE | {_spread(graded):.3f} |",
        f"| refitted rule's population gain - reported decisions' sample gain | {_mean(r['population_gain'] - r['sample_gain'] for r in graded)} |",
        f"| share treated | {_mean(r['share_treated'] for r in graded)} |",
        f"| BLP heterogeneity slope significant (dr_linear) | {_rate(r['blp_significant'] for r in graded)} |",
        f"| BLP slope (1 = calibrated) | {_mean(r['blp_slope'] for r in graded)} |",
        f"| BLP slope CI holds 1 | {_rate(r['blp_slope_covers_1'] for r in graded)} |",
        f"| AUTOC significantly > 0 | {_rate(r['rate_significant'] for r in graded)} |",
        f"| Qini coefficient significantly > 0 | {_rate(r['qini_significant'] for r in graded)} |",
        f"| model selection picks the model with the lower true CATE error | {_rate(r['chosen'] == r['true_better'] for r in graded)} |",
        f"| model selection says no model beats the constant | {_rate(r['chosen'] is None for r in graded)} |",
        "", "## Constant effect 1, cost 1.5 (treat no one is best)", "",
        "| measure | value |", "|---|---:|",
        f"| BLP heterogeneity slope significant (false positive) | {_rate(r['blp_significant'] for r in constant)} |",
        f"| AUTOC significantly > 0 (false positive) | {_rate(r['rate_significant'] for r in constant)} |",
        f"| Qini coefficient significantly > 0 (false positive) | {_rate(r['qini_significant'] for r in constant)} |",
        f"| model selection says no model beats the constant | {_rate(r['chosen'] is None for r in constant)} |",
        f"| true gain of the recommended rule (best: 0) | {_mean(r['population_gain'] for r in constant)} |",
        f"| recommends treating no one | {_rate(r['kind'] == 'treat no one' for r in constant)} |",
        f"| 95% CI holds the reported decisions' true gain on the sample | {_rate(r['covers_sample'] for r in constant)} |",
        "", "## coupon_618 demo: per-level decisions against the generator's truths", "",
        "Level effects: " + ", ".join(f"{lv} {spec[1]}" for lv, spec in LEVELS.items()) + ". The article's coupon is "
        "'199 minus 50' (face value 50); its ROI 1:3.2 on a 52 lift implies about 16.3 spent per user.", "",
        "| cost | levels that should be treated | per-level match rate | rule (first replication) | value, ROI (first) |",
        "|---:|---|---:|---|---|",
    ]
    for cost in COUPON_COSTS:
        wanted = [lv for lv in LEVELS if LEVELS[lv][1] > cost] or ["none"]
        first = coupon[0][cost]
        roi = "-" if first["roi"] is None else f"{first['roi']:.2f}"
        lines.append(f"| {cost:g} | {', '.join(wanted)} | {_rate(r[cost]['match'] for r in coupon)} | {first['rule']} | "
                     f"{first['value']:+.3f}, {roi} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
