"""EconML LinearDRLearner: doubly robust pseudo-outcomes regressed linearly on the effect modifiers.

The nuisances (propensity, and an outcome regression on X, W and T) are cross-fitted; the final
stage is OLS of the AIPW pseudo-outcome on X with heteroskedasticity-robust errors (Kennedy 2023).
The ATE comes from `ate_inference` (the linear CATE averaged over all rows, X held fixed), the
ATT/ATC and segment effects from the same over the treated, control or segment rows; without
effect modifiers the CATE model is a constant, so only the ATE is offered.
"""

from __future__ import annotations

from typing import Annotated


import numpy as np
from pydantic import Field

from estimators.base import CausalData, Estimator, Fit
from estimators.options import NuisanceOptions, integer, number
from estimators.econml_common import (LinearCateInference, estimand_rows, linear_importance, mean_inference, quiet,
                                      refuse_without_x_for_subgroups, split_xw)
from estimators.nuisance import outcome_model, propensity_model
from estimators.registry import register

__all__ = ["DRLearner"]


@register
class DRLearner(LinearCateInference, Estimator):
    name = "dr_learner"
    family = "meta-learner (EconML)"
    summary = "EconML LinearDRLearner: doubly robust pseudo-outcomes, linear CATE, robust errors"
    gives_cate = True

    class Options(NuisanceOptions):
        cv: Annotated[int, integer(2, 20)] = Field(5, description="cross-fitting folds")
        min_propensity: Annotated[float, number(0.0, 0.5)] = Field(
            0.01, description="propensities are trimmed to [p, 1 - p], p in (0, 0.5)")

    def _fit(self, data: CausalData) -> Fit:
        from econml.dr import LinearDRLearner

        refuse_without_x_for_subgroups(data, self.estimand, self.name)
        outcome, propensity = self.options.outcome_model, self.options.propensity_model
        X, W, names = split_xw(data)
        self.model_, self.X_ = LinearDRLearner(
            model_propensity=propensity_model(propensity, self.seed), model_regression=outcome_model(outcome, self.seed),
            cv=self.options.cv, min_propensity=self.options.min_propensity,
            random_state=self.seed), X
        with quiet():
            self.model_.fit(data.Y, data.T.astype(int), X=X, W=W)
        value, se = mean_inference(self.model_, X, estimand_rows(data, self.estimand))
        self.ate_se_ = se
        with quiet():
            cate = np.ravel(self.model_.effect(X)) if X is not None else np.full(data.n, value)
        details = {"nuisance": {"outcome": outcome, "propensity": propensity}}
        if X is not None:
            details["cate_importance"] = linear_importance(self.model_, names)
        return Fit(value=value, std_error=se, cate=cate, details=details)
