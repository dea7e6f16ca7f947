"""EconML XLearner (Kunzel et al. 2019): per-arm outcome models, imputed individual effects regressed
on the covariates in each arm, and the two CATE models blended by the propensity.

Suited to unbalanced arms (few treated). Bootstrap standard errors (estimators/metalearners.py).
"""

from __future__ import annotations

from estimators.metalearners import BootstrappedMetaLearner
from estimators.nuisance import outcome_model, propensity_model
from estimators.options import PropensityModel
from estimators.registry import register

__all__ = ["XLearner"]


@register
class XLearner(BootstrappedMetaLearner):
    name = "x_learner"
    summary = "EconML XLearner, per-arm outcome and CATE models blended by the propensity"

    class Options(BootstrappedMetaLearner.Options):
        propensity_model: PropensityModel = "logistic"

    def _learner(self, seed: int):
        from econml.metalearners import XLearner as EconXLearner

        return EconXLearner(models=outcome_model(self.options.outcome_model, seed), cate_models=outcome_model(self.options.outcome_model, seed + 1),
                            propensity_model=propensity_model(self.options.propensity_model, seed + 2))
