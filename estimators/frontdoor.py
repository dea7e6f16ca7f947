"""Front-door adjustment in its linear form: effect = sum_j a_j b_j (Pearl 2009, sec. 3.3.2).

a_j is the coefficient of T in the OLS of mediator M_j on T (and the covariates W); b_j that of M_j in
the OLS of Y on all mediators, T and W. Conditioning on T in the second stage blocks the back-door
path M <- T <- U -> Y that the front-door criterion leaves open. The standard error stacks the
two stages' OLS influence functions (a heteroskedasticity-robust sandwich, HC0 scaled by n/(n-k))
and applies the delta method to the product, so the covariance between a and b is included.
Valid when the graph licenses the mediators as a front-door set and the relations are linear
(then the ATE, ATT and ATC coincide; only the ATE is claimed).
"""

from __future__ import annotations

import numpy as np

from estimators.base import CausalData, Estimator, Fit, NotApplicable
from estimators.registry import register

__all__ = ["FrontDoor", "ols_influence"]


def ols_influence(D: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and per-unit influence functions psi_i = n (D'D)^-1 D_i e_i, scaled by
    sqrt(n/(n-k)) so that psi'psi / n^2 is the HC1 covariance."""
    n, k = D.shape
    beta, *_ = np.linalg.lstsq(D, y, rcond=None)
    resid = y - D @ beta
    psi = (D * resid[:, None]) @ np.linalg.pinv(D.T @ D).T * n * np.sqrt(n / max(n - k, 1))
    return beta, psi


@register
class FrontDoor(Estimator):
    name = "frontdoor"
    family = "front-door"
    summary = "linear front-door: T->M and M->Y|T coefficients multiplied, stacked-sandwich delta-method SE"
    estimands = ("ate",)
    treatment_types = ("binary", "continuous")
    requires = ("front-door mediators (from the graph)",)

    def _fit(self, data: CausalData) -> Fit:
        if data.M is None or data.M.shape[1] == 0:
            raise NotApplicable(f"{self.name} needs a front-door set of mediators; the graph gives none "
                                "(observed mediators that intercept every path from treatment to outcome, "
                                "with no open back-door path into them)")
        n, q = data.n, data.M.shape[1]
        ones = np.ones((n, 1))
        first = np.hstack([ones, data.T[:, None], data.covariates])
        a, psi_a = [], []
        for j in range(q):
            beta, psi = ols_influence(first, data.M[:, j])
            a.append(beta[1])
            psi_a.append(psi[:, 1])
        second = np.hstack([ones, data.M, data.T[:, None], data.covariates])
        beta, psi = ols_influence(second, data.Y)
        b, psi_b = beta[1:1 + q], psi[:, 1:1 + q]
        stacked = np.column_stack([*psi_a, psi_b])
        cov = stacked.T @ stacked / n**2
        a = np.asarray(a)
        gradient = np.concatenate([b, a])
        value = float(a @ b)
        return Fit(value=value, std_error=float(np.sqrt(gradient @ cov @ gradient)),
                details={"mediators": data.m_names, "t_to_m": a.tolist(), "m_to_y_given_t": b.tolist(),
                            "direct_t_given_m": float(beta[1 + q])})
