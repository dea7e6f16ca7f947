"""Sensitivity of the indirect effect to an unobserved mediator-outcome confounder: Imai, Keele &
Yamamoto (2010, Statistical Science 25(1), Theorem 2), the linear case without interaction.

With M = a2 + b2 T + x2'X + e2 and Y = a3 + b3 T + g M + x3'X + e3, an unobserved confounder of M
and Y shows up as rho = corr(e2, e3) != 0. From the regressions of M and of Y (without M) on T and
X, with residual SDs s2, s1 and residual correlation r:
    NIE(rho) = b2 (s1 / s2) (r - rho sqrt((1 - r^2) / (1 - rho^2)))       NDE(rho) = TE - NIE(rho)
At rho = 0 this is the product of coefficients b2 * g (Frisch-Waugh-Lovell); NIE(rho) = 0 at rho = r.
Only for one continuous mediator; it ignores a T x M interaction (the no-interaction models are
refitted here).
"""

from __future__ import annotations

import numpy as np

from tasks.mediation.inputs import MediationData

__all__ = ["rho_sensitivity", "nie_at_rho", "RHO_GRID"]

RHO_GRID = tuple(round(r, 2) for r in np.linspace(-0.9, 0.9, 19))
METHOD = "Imai-Keele-Yamamoto rho: correlation of mediator and outcome errors (linear, no interaction)"


def _residuals(design: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return coef, target - design @ coef


def nie_at_rho(b2: float, s1: float, s2: float, r: float, rho: float) -> float:
    """IKY's indirect effect for an assumed error correlation rho (|rho| < 1)."""
    return float(b2 * s1 / s2 * (r - rho * np.sqrt((1 - r ** 2) / (1 - rho ** 2))))


def rho_sensitivity(data: MediationData, grid: tuple[float, ...] = RHO_GRID) -> dict:
    """NIE and NDE as functions of rho, and the rho at which the indirect effect vanishes."""
    if data.m.shape[1] != 1:
        return {"method": METHOD, "status": "skipped",
                "reason": f"the rho analysis is defined for one mediator; got {data.m.shape[1]}"}
    if data.l.shape[1]:
        return {"method": METHOD, "status": "skipped",
                "reason": "a treatment-induced mediator-outcome confounder is in the model; the rho analysis "
                          "assumes none"}
    design = np.column_stack([np.ones(data.n), data.t, data.x])
    gamma, e1 = _residuals(design, data.y)
    beta, e2 = _residuals(design, data.m[:, 0])
    s1, s2 = float(e1.std()), float(e2.std())
    r = float(np.corrcoef(e1, e2)[0, 1])
    total, b2 = float(gamma[1]), float(beta[1])
    curve = [{"rho": rho, "nie": nie_at_rho(b2, s1, s2, r, rho), "nde": total - nie_at_rho(b2, s1, s2, r, rho)}
             for rho in grid]
    return {"method": METHOD, "status": "ok", "rho_at_zero_nie": r, "nie_at_rho_0": nie_at_rho(b2, s1, s2, r, 0.0),
            "total": total, "curve": curve}
