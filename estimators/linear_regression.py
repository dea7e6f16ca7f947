"""Regression adjustment: OLS of Y on T, the adjustment set, and T x (centred effect modifiers).

With the modifiers centred at their sample mean, the coefficient of T is the ATE of a model whose
effect is linear in the modifiers (Imbens & Wooldridge 2009, sec. 5.3); ATT/ATC re-centre on the
treated/control means. HC1 standard errors. DoWhy's linear_regression gives the same point estimate
without modifiers, but raises NotImplementedError for its CI when modifiers are present (dowhy 0.14,
LinearRegressionEstimator._estimate_confidence_intervals) and reports non-robust errors.
"""

from __future__ import annotations

import numpy as np

from estimators.base import CausalData, Estimator, Fit
from estimators.ols import ols_hc1
from estimators.registry import register

__all__ = ["LinearRegression"]


@register
class LinearRegression(Estimator):
    name = "linear_regression"
    family = "backdoor regression"
    summary = "OLS adjustment with treatment x modifier interactions, HC1 errors"
    treatment_types = ("binary", "continuous")
    gives_cate = True

    def _fit(self, data: CausalData) -> Fit:
        centre = data.X.mean(axis=0)
        Xc = data.X - centre
        D = np.hstack([np.ones((data.n, 1)), data.T[:, None], data.covariates, data.T[:, None] * Xc])
        beta, cov = ols_hc1(D, data.Y)
        q = data.X.shape[1]
        interaction = slice(D.shape[1] - q, D.shape[1])
        contrast = np.zeros(D.shape[1])
        contrast[1] = 1.0
        if q and self.estimand != "ate" and data.treatment_type == "binary":
            arm = data.T == (1.0 if self.estimand == "att" else 0.0)
            contrast[interaction] = data.X[arm].mean(axis=0) - centre
        value = float(contrast @ beta)
        se = float(np.sqrt(contrast @ cov @ contrast))
        cate = beta[1] + Xc @ beta[interaction] if q else np.full(data.n, beta[1])
        self.fitted_ = (beta, cov, data.X, centre, interaction)
        details = {"coefficients": int(D.shape[1])}
        if q:
            details["cate_importance"] = {
                "kind": "linear CATE coefficients (effect change per unit of each modifier)",
                "intercept": float(beta[1] - centre @ beta[interaction]),
                "values": {n: float(c) for n, c in zip(data.x_names, beta[interaction])}}
        return Fit(value=value, std_error=se, cate=cate, details=details)

    def effect(self, X: np.ndarray) -> np.ndarray:
        beta, _, _, centre, interaction = self.fitted_
        if not centre.size:
            return np.full(len(X), beta[1])
        return beta[1] + (X - centre) @ beta[interaction]

    def segment_effect(self, rows: np.ndarray, cate: np.ndarray) -> tuple[float, float]:
        """The same contrast as the ATT, over a segment's rows: exact, with its HC1 error."""
        beta, cov, X, centre, interaction = self.fitted_
        contrast = np.zeros(beta.size)
        contrast[1] = 1.0
        contrast[interaction] = X[rows].mean(axis=0) - centre
        return float(contrast @ beta), float(np.sqrt(contrast @ cov @ contrast))
