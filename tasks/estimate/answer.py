"""The headline: one estimate the CLI and the report lead with, chosen by a stated rule from the design.

An instrumental-variables design answers with 2SLS, a regression discontinuity with its local
polynomial estimate, a front-door design with the front-door estimator; a back-door design with the
doubly robust estimator (AIPW) on the run's nuisance models, falling back in a fixed order when it did
not run. Never an average of designs: estimators of different designs answer different questions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from estimators.base import Estimate

__all__ = ["Answer", "choose_answer", "PREFERENCE"]

# design -> estimators in order of preference (the first that ran and succeeded answers)
PREFERENCE = {
    "rdd": ("rdd",),
    "iv": ("iv_2sls", "dml_iv"),
    "frontdoor": ("frontdoor",),
    "backdoor": ("aipw", "stream_aipw", "linear_dml", "stream_linear_dml", "dr_learner", "causal_forest",
                 "sparse_linear_dml", "ps_stratification", "ipw", "ps_matching", "linear_regression",
                 "stream_linear_regression", "t_learner", "x_learner", "s_learner"),
}
_REASON = {
    "rdd": "regression discontinuity: the local polynomial estimate at the cutoff (robust bias-corrected CI)",
    "iv": "instrumental variables declared: two-stage least squares, valid under unobserved confounding",
    "frontdoor": "front-door design: the effect carried through the mediators",
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
