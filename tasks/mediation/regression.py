"""Regression-based mediation (VanderWeele & Vansteelandt 2009; VanderWeele 2015, ch. 2) with a
treatment x mediator interaction, for continuous outcome and mediators, several mediators jointly.

Models (a* = 0, a = 1; c the sample mean of the confounders, so the effects are averages over C):
    M_k = b0_k + b1_k A + b2_k'C + e_k                  (one regression per mediator)
    Y   = t0 + t1 A + sum_k (t2_k M_k + t3_k A M_k) + t4'C [+ t5'L] + e
    NDE = t1 + sum_k t3_k (b0_k + b2_k'c) [+ sum_j t5_j g1_j]     NIE = sum_k (t2_k + t3_k) b1_k
With treatment-induced mediator-outcome confounders L (regressed as L_j = g0 + g1 A + g2'C) these
are the interventional (randomised-analogue) effects of VanderWeele, Vansteelandt & Robins (2014).
Standard errors: delta method on the stacked OLS influence functions (sandwich, heteroskedasticity
robust), which includes the covariance between the two regressions and the sampling error of c.
"""

from __future__ import annotations

import numpy as np

from tasks.mediation.effects import Decomposition
from tasks.mediation.inputs import MediationData

__all__ = ["regression_mediation", "ols_influence"]


def ols_influence(design: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients and their influence functions n (Z'Z)^-1 z_i e_i, shape (n, p)."""
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coef
    bread = np.linalg.pinv(design.T @ design) * len(target)
    return coef, (design * residual[:, None]) @ bread.T


def regression_mediation(data: MediationData) -> Decomposition:
    """NDE, NIE and total effect from the two linear models, with delta-method influence functions."""
    n, k = data.m.shape
    ones, a, c = np.ones(n), data.t, data.x
    base = np.column_stack([ones, a, c])  # mediator and induced-confounder regressions
    c_mean = c.mean(axis=0)
    c_influence = c - c_mean
    design_y = np.column_stack([ones, a, data.m, a[:, None] * data.m, c, data.l])
    theta, theta_if = ols_influence(design_y, data.y)
    t1, t2, t3 = theta[1], theta[2:2 + k], theta[2 + k:2 + 2 * k]
    t5 = theta[2 + 2 * k + c.shape[1]:]
    nde, nie = float(t1), 0.0
    nde_if, nie_if = theta_if[:, 1].copy(), np.zeros(n)
    for j in range(k):
        b, b_if = ols_influence(base, data.m[:, j])
        level0 = b[0] + b[2:] @ c_mean  # E[M_j(0)]
        nde += t3[j] * level0
        # d NDE: t3_j -> level0, b0_j -> t3_j, b2_j -> t3_j * c, c -> t3_j * b2_j
        nde_if += (theta_if[:, 2 + k + j] * level0 + t3[j] * (b_if[:, 0] + b_if[:, 2:] @ c_mean)
                   + t3[j] * (c_influence @ b[2:]))
        nie += (t2[j] + t3[j]) * b[1]
        nie_if += (theta_if[:, 2 + j] + theta_if[:, 2 + k + j]) * b[1] + (t2[j] + t3[j]) * b_if[:, 1]
    first_l = 2 + 2 * k + c.shape[1]
    for j in range(data.l.shape[1]):
        g, g_if = ols_influence(base, data.l[:, j])
        nde += t5[j] * g[1]
        nde_if += theta_if[:, first_l + j] * g[1] + t5[j] * g_if[:, 1]
    estimates = {"nde": float(nde), "nie": float(nie), "total": float(nde + nie)}
    return Decomposition.from_influence(estimates, {"nde": nde_if, "nie": nie_if, "total": nde_if + nie_if})
