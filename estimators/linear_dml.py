"""EconML LinearDML: partially linear double machine learning with cross-fitting.

Nuisances default to linear models (OLS for Y, whyflow's logistic for T): EconML's default 'auto'
model selection took 54 s at 1e4 rows and over 600 s at 1e5 here, and DoubleML/EconML's default
LightGBM nuisances gave CIs that missed the truth by about 3 SE (shared/measurements); whyflow's own
single-threaded LightGBM settings covered 0.97 under nonlinear confounding
(bench/results/estimator-validation-flexible-nuisances.md). The spec's `nuisance` picks them. The
ATE interval comes from `ate_inference`, not from averaging per-unit `effect_interval`s, which is not
an ATE interval; ATT/ATC and segment effects average the linear CATE over those rows (X held fixed).
"""

from __future__ import annotations

from typing import Annotated


import numpy as np
from pydantic import Field

from estimators.base import CausalData, Estimator, Fit
from estimators.options import NuisanceOptions, integer
from estimators.econml_common import (LinearCateInference, estimand_rows, linear_importance, mean_inference, quiet,
                                      refuse_without_x_for_subgroups, split_xw)
from estimators.nuisance import outcome_model, treatment_model
from estimators.registry import register

__all__ = ["LinearDML"]


@register
class LinearDML(LinearCateInference, Estimator):
    name = "linear_dml"
    family = "double machine learning (EconML)"
    summary = "EconML LinearDML, linear nuisances, 5-fold cross-fitting"
    treatment_types = ("binary", "continuous")
    gives_cate = True

    class Options(NuisanceOptions):
        cv: Annotated[int, integer(2, 20)] = Field(5, description="cross-fitting folds")

    def _econml_model(self, binary: bool):
        from econml.dml import LinearDML as EconLinearDML

        outcome, propensity = self.options.outcome_model, self.options.propensity_model
        return EconLinearDML(model_y=outcome_model(outcome, self.seed),
                             model_t=treatment_model(propensity, self.seed, binary),
                             discrete_treatment=binary, cv=self.options.cv, random_state=self.seed)

    def _fit(self, data: CausalData) -> Fit:
        binary = data.treatment_type == "binary"
        if binary:
            refuse_without_x_for_subgroups(data, self.estimand, self.name)
        X, W, names = split_xw(data)
        self.model_, self.X_ = self._econml_model(binary), X
        with quiet():
            self.model_.fit(data.Y, data.T.astype(int) if binary else data.T, X=X, W=W)
        rows = estimand_rows(data, self.estimand if binary else "ate")
        value, se = mean_inference(self.model_, X, rows)
        self.ate_se_ = se
        with quiet():
            cate = np.ravel(self.model_.effect(X)) if X is not None else np.full(data.n, value)
        outcome, propensity = self.options.outcome_model, self.options.propensity_model
        details = {"nuisance": {"outcome": outcome, "propensity": propensity}}
        if X is not None:
            details["cate_importance"] = linear_importance(self.model_, names)
        # the label names what actually ran, not the class's default summary
        method = (f"EconML {type(self).__name__}, {outcome}/{propensity} nuisances, "
                  f"{self.options.cv}-fold cross-fitting")
        return Fit(value=value, std_error=se, cate=cate, details=details, method=method)

