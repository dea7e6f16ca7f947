"""Power and false-alarm rates of the bias checks (plasmode, negative_control, dummy_outcome).

Each case runs R seeded replications of a small data set and records how often the check fails,
with the binomial Monte-Carlo error sqrt(p(1-p)/R). Biased estimators: a difference in means that
ignores the covariates, and OLS under nonlinear confounding; sound ones: OLS under linear
confounding and AIPW with cross-fitted LightGBM nuisances under nonlinear confounding. The data
generators are the tests' (tests/tasks/test_bias_checks.py).

Usage: nice -n 10 python bench/bias_checks.py [--reps 40] [--simulations 8] [--out bench/results/bias-checks.md]
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from whyflow.threads import pin_threads  # noqa: E402

pin_threads()

from estimators import get  # noqa: E402
from estimators.registry import _REGISTRY  # noqa: E402
from tasks.evidence.refute import refute_estimates  # noqa: E402
from tests.tasks.test_bias_checks import (AIPW_LIGHTGBM, DifferenceInMeans, hidden_confounding,  # noqa: E402
                                          linear_confounding, nonlinear_confounding)

_REGISTRY[DifferenceInMeans.name] = DifferenceInMeans
AIPW5 = {**AIPW_LIGHTGBM, "cv": 5}
# (label, expected verdict, data maker(n, seed), estimator, options, refuter, n, share of the reps)
CASES = [
    ("difference in means, linear confounding", "fail", linear_confounding, "difference_in_means", {}, "plasmode", 1000, 1),
    ("OLS, nonlinear confounding", "fail", nonlinear_confounding, "linear_regression", {}, "plasmode", 1000, 1),
    ("OLS, nonlinear confounding", "fail", nonlinear_confounding, "linear_regression", {}, "dummy_outcome", 1000, 1),
    ("OLS, linear confounding (sound)", "pass", linear_confounding, "linear_regression", {}, "plasmode", 1000, 1),
    ("OLS, linear confounding (sound)", "pass", linear_confounding, "linear_regression", {}, "dummy_outcome", 1000, 1),
    ("AIPW LightGBM cv=3, nonlinear (sound)", "pass", nonlinear_confounding, "aipw", AIPW_LIGHTGBM, "plasmode", 1000, 0.5),
    ("AIPW LightGBM cv=5, nonlinear (sound)", "pass", nonlinear_confounding, "aipw", AIPW5, "plasmode", 2000, 0.5),
    ("OLS, hidden confounder 0.8", "fail", lambda n, s: hidden_confounding(n, s, 0.8), "linear_regression", {},
     "negative_control", 1000, 1),
    ("OLS, no hidden confounder (sound)", "pass", lambda n, s: hidden_confounding(n, s, 0.0), "linear_regression", {},
     "negative_control", 1000, 1),
]


def run_case(case, reps: int, simulations: int) -> dict:
    label, expected, make, name, options, refuter, n, share = case
    reps = max(10, int(reps * share))
    started = time.perf_counter()
    verdicts, errors = [], []
    for r in range(reps):
        data = make(n, 50_000 + r)
        estimate = get(name)(seed=r, **options).fit(data).estimate_
        [result] = refute_estimates(data, [estimate], [refuter], seed=r, simulations=simulations,
                                    options={name: options} if options else None)
        verdicts.append(result.verdict)
        if estimate.std_error and math.isfinite(estimate.std_error):
            errors.append((estimate.value - 1.0) / estimate.std_error)
    fail = verdicts.count("fail") / reps
    return {"label": label, "refuter": refuter, "n": n, "reps": reps, "expected": expected, "fail": fail,
            "mc": math.sqrt(fail * (1 - fail) / reps), "other": reps - verdicts.count("fail") - verdicts.count("pass"),
            "error_se": sum(errors) / len(errors) if errors else math.nan, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--simulations", type=int, default=8)
    parser.add_argument("--out", default="bench/results/bias-checks.md")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for case in CASES:
        rows.append(run_case(case, args.reps, args.simulations))
        r = rows[-1]
        print(f"{r['label']:45s} {r['refuter']:17s} fail {r['fail']:.3f} +- {r['mc']:.3f} ({r['seconds']:.0f} s)", flush=True)
    lines = [
        "# Bias checks: power and false alarms", "",
        f"Date: {datetime.date.today()}; machine: 2 cores (shared), one thread per process; command: "
        f"`nice -n 10 .venv/bin/python bench/bias_checks.py --reps {args.reps} --simulations {args.simulations}`; "
        f"S = {args.simulations} simulations per check; true effect 1.0; total {time.perf_counter() - started:.0f} s.", "",
        "Rules: plasmode fails when |bias| > t(0.975, S-1) MC SE and > 0.5 x the mean SE; dummy_outcome when the "
        "mean dummy estimate is off 0 with p < 0.05 (t, SE sd/sqrt(S)) and by > 0.5 x the mean SE; "
        "negative_control when a control's Bonferroni 95% CI excludes 0 and its estimate on the main scale "
        "> 0.5 x the main SE. 'fail rate' is power where the estimator is biased, the false-alarm rate where "
        "it is sound; +- is the binomial MC error sqrt(p(1-p)/R). 'error/SE': the estimator's mean error on the "
        "real data in its own SEs.", "",
        "| estimator, data | check | n | R | expected | fail rate | +- MC | inconclusive | error/SE | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['label']} | {r['refuter']} | {r['n']} | {r['reps']} | {r['expected']} | {r['fail']:.3f} | "
                     f"{r['mc']:.3f} | {r['other']} | {r['error_se']:.2f} | {r['seconds']:.0f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
