"""EconML XLearner (Kunzel et al. 2019): per-arm outcome models, imputed individual effects regressed
on the covariates in each arm, and the two CATE models blended by the propensity.

Suited to unbalanced arms (few treated). Bootstrap standard errors (estimators/metalearners.py).
"""

from __future__ import annotations

from estimators.metalearners import BootstrappedMetaLearner
from estimators.nuisance import NUISANCE_OPTIONS, outcome_model, propensity_model
from estimators.registry import register

__all__ = ["XLearner"]


@register
class XLearner(BootstrappedMetaLearner):
    name = "x_learner"
    summary = "EconML XLearner, per-arm outcome and CATE models blended by the propensity"
    options_doc = {**BootstrappedMetaLearner.options_doc, "propensity_model": NUISANCE_OPTIONS["propensity_model"]}

    def _learner(self, outcome: str, propensity: str, seed: int):
        from econml.metalearners import XLearner as EconXLearner

        return EconXLearner(models=outcome_model(outcome, seed), cate_models=outcome_model(outcome, seed + 1),
                            propensity_model=propensity_model(propensity, seed + 2))
