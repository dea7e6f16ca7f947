"""Propensity-score stratification (subclassification) with regression adjustment inside strata.

Units are cut into strata at quantiles of the logistic propensity; inside each stratum the effect is
the coefficient of T in an OLS of Y on T and the adjustment set, which removes the confounding
left within strata (Imbens & Rubin 2015, ch. 17). Stratum effects are averaged with weights for the
estimand (all units, treated, or controls); the variance sums the strata's HC1 variances.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from estimators.base import CausalData, Estimator, Fit
from estimators.ols import ols_hc1
from estimators.options import EstimatorOptions, PropensityModel, flag, integer
from estimators.propensity import propensity_scores
from estimators.registry import register

__all__ = ["PropensityStratification"]


@register
class PropensityStratification(Estimator):
    name = "ps_stratification"
    family = "backdoor propensity"
    summary = "propensity-score strata (quantiles) with OLS adjustment inside each stratum"

    class Options(EstimatorOptions):
        num_strata: Annotated[int, integer(1, 1000)] = Field(10, description="strata, at propensity quantiles")
        regression_adjust: Annotated[bool, flag()] = Field(
            True, description="OLS on the covariates inside each stratum (false: difference in means)")
        propensity_model: PropensityModel = "logistic"

    def _fit(self, data: CausalData) -> Fit:
        num_strata = self.options.num_strata
        adjust = self.options.regression_adjust
        e, _ = propensity_scores(data.covariates, data.T, self.options.propensity_model, self.seed)
        edges = np.quantile(e, np.linspace(0, 1, num_strata + 1)[1:-1])
        stratum = np.searchsorted(edges, e, side="right")
        effects, variances, weights, skipped = [], [], [], 0
        for s in range(num_strata):
            rows = stratum == s
            t, y = data.T[rows], data.Y[rows]
            n1, n0 = int(t.sum()), int(rows.sum() - t.sum())
            covariates = data.covariates[rows] if adjust else np.empty((rows.sum(), 0))
            if min(n1, n0) < covariates.shape[1] + 2:
                skipped += int(rows.sum())
                continue
            D = np.hstack([np.ones((rows.sum(), 1)), t[:, None], covariates])
            beta, cov = ols_hc1(D, y)
            effects.append(beta[1])
            variances.append(cov[1, 1])
            weights.append({"ate": n1 + n0, "att": n1, "atc": n0}[self.estimand])
        if not effects:
            raise ValueError("no propensity stratum holds both treated and control units")
        w = np.asarray(weights, dtype=float) / np.sum(weights)
        value = float(w @ np.asarray(effects))
        se = float(np.sqrt(w**2 @ np.asarray(variances)))
        return Fit(value=value, std_error=se, n=data.n - skipped,
                details={"strata": len(effects), "units_in_skipped_strata": skipped,
                            "regression_adjust": adjust})
