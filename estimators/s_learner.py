"""EconML SLearner: one outcome model on (covariates, T); the CATE is its prediction difference.

With the default linear outcome model the effect is a single coefficient (no interactions), so the
S-learner is a constant-effect regression: under heterogeneous effects it estimates a
variance-weighted average, not the ATE (on the coupon demo 52.1, CI [50.0, 54.3], truth 49.8;
bench/results/backdoor-suite-coupon_618.md). A tree model (outcome_model: lightgbm) lets the effect
vary. Bootstrap standard errors (estimators/metalearners.py).
"""

from __future__ import annotations

from estimators.metalearners import BootstrappedMetaLearner
from estimators.nuisance import outcome_model
from estimators.registry import register

__all__ = ["SLearner"]


@register
class SLearner(BootstrappedMetaLearner):
    name = "s_learner"
    summary = "EconML SLearner, one outcome model with T as a feature"

    def _learner(self, seed: int):
        from econml.metalearners import SLearner as EconSLearner

        return EconSLearner(overall_model=outcome_model(self.options.outcome_model, seed))
