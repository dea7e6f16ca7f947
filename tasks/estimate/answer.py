"""The headline: one estimate the CLI and the report lead with, chosen by a stated rule from the design.

An instrumental-variables design answers with 2SLS, a regression discontinuity with its local
polynomial estimate, a front-door design with the front-door estimator; a back-door design with the
doubly robust estimator (AIPW) on the run's nuisance models, falling back in a fixed order when it did
not run. Never an average of designs: estimators of different designs answer different questions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from estimators.base import Estimate

__all__ = ["Answer", "choose_answer", "spread_warning", "influence_warning", "extrapolation_warning", "EXTRAPOLATION_SHARE", "PREFERENCE", "SPREAD_SE", "INFLUENCE_SE",
           "INFLUENCE_MIN_ROWS"]

SPREAD_SE = 2.0  # the design's estimates spread wider than this many of the answer's SEs: say so
# one unit moves the answer by more than INFLUENCE_SE of its SEs: say so. AIPW's largest single-unit shift,
# 10 seeds each (median / max): linear confounding 0.17/0.33 at n = 1,000 and 0.15/0.25 at 5,000; nonlinear
# confounding 0.42/0.65 and 0.33/0.45; weak overlap 0.60/0.92 and 0.38/0.64; 401(k) eligibility 0.91. Below
# INFLUENCE_MIN_ROWS even sound data reach 0.9 (n = 200), so the check stays quiet there.
INFLUENCE_SE = 0.75
INFLUENCE_MIN_ROWS = 1000
# a dose-response curve whose median dose is nearly impossible for more than this share of the units rests
# mostly on extrapolation (VCNet simulation: 0.33-0.69 per dose; a dose with Gaussian noise: <= 0.05)
EXTRAPOLATION_SHARE = 0.2

# design -> estimators in order of preference (the first that ran and succeeded answers)
PREFERENCE = {
    "rdd": ("rdd",),
    "iv": ("iv_2sls", "dml_iv"),
    "frontdoor": ("frontdoor",),
    "proxy": ("cevae",),
    "backdoor": ("aipw", "stream_aipw", "linear_dml", "stream_linear_dml", "dr_learner", "causal_forest",
                 "sparse_linear_dml", "ps_stratification", "ipw", "ps_matching", "linear_regression",
                 "stream_linear_regression", "t_learner", "x_learner", "s_learner"),
}
_REASON = {
    "rdd": "regression discontinuity: the local polynomial estimate at the cutoff (robust bias-corrected CI)",
    "iv": "instrumental variables declared: two-stage least squares, valid under unobserved confounding",
    "frontdoor": "front-door design: the effect carried through the mediators",
    "proxy": "hidden confounder seen through proxies: the latent-variable model (CEVAE), right only if the proxies "
             "pin the confounder down",
    "backdoor": "back-door design: the doubly robust estimator, consistent when either the outcome or the "
                "propensity model is right",
}


@dataclass(frozen=True)
class Answer:
    estimator: str
    estimand: str
    estimate: float
    ci_low: float
    ci_high: float
    why: str

    def to_json(self) -> dict:
        return asdict(self)


def choose_answer(estimates: list[Estimate], design: str, nuisance: tuple[str, str] | None = None) -> Answer | None:
    """The headline estimate by the design's order of preference; None when no estimator succeeded."""
    ok = {e.estimator: e for e in estimates if e.ok}
    order = PREFERENCE.get(design, ())
    chosen = next((name for name in order if name in ok), None)
    extra = ""
    if chosen is None:
        chosen = next(iter(ok), None)
        if chosen is None:
            return None
        extra = f"; none of the design's preferred estimators ({', '.join(order)}) ran, so the first that did answers"
    elif order and chosen != order[0]:
        extra = f"; {order[0]} did not run or failed, so {chosen}, next in whyflow's order, answers"
    why = _REASON.get(design, design) + extra
    if nuisance and design == "backdoor":
        why += f" (nuisance models: {nuisance[0]} outcome, {nuisance[1]} propensity)"
    estimate = ok[chosen]
    return Answer(chosen, estimate.estimand, estimate.value, estimate.ci_low, estimate.ci_high, why)


def spread_warning(estimates: list[Estimate], design: str, answer: Answer | None) -> str | None:
    """A warning when the estimators of the answer's design disagree by more than SPREAD_SE of the
    answer's standard error: then the choice of estimator (its nuisance models, its weights) matters
    as much as the data, which the user should know before reading the headline."""
    if answer is None:
        return None
    mine = [e for e in estimates if e.ok and e.estimator in PREFERENCE.get(design, ())]
    se = next((e.std_error for e in mine if e.estimator == answer.estimator), None)
    if len(mine) < 2 or not se:
        return None
    low, high = min(mine, key=lambda e: e.value), max(mine, key=lambda e: e.value)
    if high.value - low.value <= SPREAD_SE * se:
        return None
    return (f"the {design} estimates spread from {low.value:.4g} ({low.estimator}) to {high.value:.4g} "
            f"({high.estimator}), {(high.value - low.value) / se:.1f} standard errors of the answer: the estimator "
            "matters here; remedy: compare nuisance: lightgbm, and check overlap and extreme weights")


def influence_warning(estimates: list[Estimate], answer: Answer | None) -> str | None:
    """A warning when one unit moves the answer by more than INFLUENCE_SE of its standard error on its
    own (estimators that report `influence`, from their scores): a heavy-tailed outcome on a unit with
    an extreme weight then decides the headline, and neither the overlap nor the balance gate sees it."""
    if answer is None:
        return None
    chosen = next((e for e in estimates if e.ok and e.estimator == answer.estimator), None)
    influence = ((chosen.details or {}).get("influence") or {}) if chosen else {}
    shift = influence.get("max_shift_se")
    if shift is None or shift <= INFLUENCE_SE or (chosen.n or 0) < INFLUENCE_MIN_ROWS:
        return None
    return (f"one unit (row {influence['row']} of the analysed data) moves the answer ({answer.estimator}) by "
            f"{shift:.2f} standard errors on its own, its {influence['top']} most influential units together by "
            f"{influence['top_shift_se']:.1f}: extreme weights or outcomes drive the estimate; remedy: look at "
            "those rows, consider overlap.trim: crump or a transformed outcome, and compare the other estimators")


def extrapolation_warning(estimates: list[Estimate]) -> str | None:
    """A warning when a dose-response curve is mostly extrapolation: at the median dose of its grid, more
    than EXTRAPOLATION_SHARE of the units have covariates that make that dose nearly impossible
    (`off_support_share`, from the density network), so no unit like them received it and the curve and
    its band there are the network's guess, which the DR correction cannot check."""
    shares = {e.estimator: float(np.median(curve["off_support_share"])) for e in estimates
              if e.ok and (curve := (e.details or {}).get("dose_response") or {}).get("off_support_share")}
    worst = {name: share for name, share in shares.items() if share > EXTRAPOLATION_SHARE}
    if not worst:
        return None
    named = ", ".join(f"{name} {share:.0%}" for name, share in sorted(worst.items()))
    return (f"the dose-response curve is mostly extrapolation: at a typical dose, this share of the units could "
            f"hardly have received it given their covariates ({named}); the dose is nearly determined by the "
            "covariates, so the curve and its band rest on the network's guess for them; remedy: read the curve "
            "where off_support_share is low, or narrow the population to units whose doses vary")
