"""Sanity refuters: changes that must not move a sound estimate (or must take it to zero).

They catch an estimator that is broken (ignores the treatment, moves with the sample size or the
number of columns), not one that is biased: a difference in means ignoring every confounder passes
all four. Each fails only on a change that matters (tasks/evidence/refutation.py: significant and
larger than half the estimate's SE); the intervals are the 2.5-97.5% percentiles of the refits.
"""

from __future__ import annotations

import math

import numpy as np

from estimators import registry
from estimators.base import CausalData, Estimate
from tasks.evidence.refutation import (SHIFT_RULE, Plan, RefuteContext, RefuterSpec, Refutation, judged,
                                       refutation_of, shift_test, too_few)

__all__ = ["SANITY_REFUTERS", "conclude_shift", "IV_PLACEBO_REASON"]

IV_PLACEBO_REASON = ("a permuted instrument leaves 2SLS near the confounded OLS value whether the estimator is "
                     "sound or broken, so this check cannot tell them apart; shown for information only")


def _placebo(data: CausalData, rng: np.random.Generator, index: int, instrumented: bool) -> CausalData:
    if instrumented:  # an IV design's treatment is endogenous: the placebo breaks the instrument instead
        return data.replace(Z=data.Z[rng.permutation(data.n)])
    return data.replace(T=rng.permutation(data.T))


def _random_common_cause(data: CausalData, rng: np.random.Generator, index: int, context) -> CausalData:
    noise = rng.standard_normal((data.n, 1))
    return data.replace(covariates=np.hstack([data.covariates, noise]),
                        covariate_names=[*data.covariate_names, "_random_common_cause"])


def _data_subset(data: CausalData, rng: np.random.Generator, index: int, context) -> CausalData:
    return data.subset(np.sort(rng.choice(data.n, size=int(0.8 * data.n), replace=False)))


def _bootstrap(data: CausalData, rng: np.random.Generator, index: int, context) -> CausalData:
    return data.subset(np.sort(rng.integers(0, data.n, size=data.n)))


def _runs_everywhere(data: CausalData, estimate: Estimate, context: RefuteContext) -> Plan:
    return Plan()


def _placebo_plan(data: CausalData, estimate: Estimate, context: RefuteContext) -> Plan | str:
    requires = registry.get(estimate.estimator).requires
    if "running_variable" in requires:  # a permuted treatment is no longer a step at the cutoff
        return ("a regression discontinuity's placebo is its placebo cutoffs (see the estimate's details), "
                "not a permuted treatment")
    return Plan(context="instruments" in requires)


def conclude_shift(refuter: str, spec: RefuterSpec, estimate: Estimate, fits: np.ndarray, reference: float,
                   inconclusive: str | None = None, scale: float | None = None) -> Refutation:
    """The two-part rule on the refits' mean against `reference` (the estimate, or 0); `scale`: the SE
    a shift is measured in (default the estimate's own)."""
    values = fits[:, 0]
    test = shift_test(values, reference, estimate.std_error if scale is None else scale)
    reason = too_few(values.size) or inconclusive
    verdict, passed = ("inconclusive", None) if reason else judged(test["fails"])
    low, high = (float(q) for q in np.percentile(values, [2.5, 97.5]))
    details = {"reference": reference, **{k: test[k] for k in ("shift", "shift_in_se", "se_of_mean",
                                                              "significant", "material")}}
    if reason:
        details["reason"] = reason
    return refutation_of(refuter, estimate, spec, new_effect=test["mean"], new_effect_sd=test["sd"],
                         p_value=None if math.isnan(test["p_value"]) else test["p_value"], passed=passed,
                         verdict=verdict, simulations=int(values.size), interval_low=low, interval_high=high,
                         details=details)


def _same(refuter, spec, estimate, fits, context):
    return conclude_shift(refuter, spec, estimate, fits, estimate.value)


def _placebo_conclusion(refuter, spec, estimate, fits, instrumented):
    return conclude_shift(refuter, spec, estimate, fits, 0.0, IV_PLACEBO_REASON if instrumented else None)


_STAYS = SHIFT_RULE.format(reference="the original estimate")
SANITY_REFUTERS: dict[str, RefuterSpec] = {
    "placebo": RefuterSpec(
        "sanity", "detects an estimator whose answer does not come from the treatment (it should find 0 under a "
        "permuted treatment); cannot detect confounding bias", SHIFT_RULE.format(reference="0") +
        "; an IV design permutes the instrument and is inconclusive", _placebo_plan, _placebo, _placebo_conclusion),
    "random_common_cause": RefuterSpec(
        "sanity", "detects an estimate that moves when an irrelevant covariate is added; cannot detect bias from "
        "confounders left out or modelled wrongly", _STAYS, _runs_everywhere, _random_common_cause, _same),
    "data_subset": RefuterSpec(
        "sanity", "detects an estimate that depends on the sample size or on a few rows (80% subsets); cannot "
        "detect a bias shared by every subset", _STAYS, _runs_everywhere, _data_subset, _same),
    "bootstrap": RefuterSpec(
        "sanity", "detects an estimate far from the centre of its own resampling distribution; cannot detect a "
        "bias that every resample shares", _STAYS, _runs_everywhere, _bootstrap, _same),
}
