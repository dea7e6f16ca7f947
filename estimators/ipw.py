"""Inverse-propensity weighting with an M-estimation sandwich variance.

The variance stacks the logistic score with the two weighted means, so it accounts for the
propensity being estimated (Lunceford & Davidian 2004).
Options:
  clip       c (bounds the propensity to [c, 1 - c]) or [low, high]; the weights are then at most
             1/c. Clipped units carry no propensity-estimation term.
  stabilize  true: stabilised weights P(T=t)/P(T=t|X), i.e. each arm's weighted mean is
             normalised by its own weight total (the Hajek estimator); false: the unstabilised
             Horvitz-Thompson form, normalised by the expected weight total (n, or n treated for
             the ATT), which is unbiased but has larger variance when weights are extreme.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from estimators.base import CausalData, Estimator, Fit
from estimators.options import EstimatorOptions, PropensityModel, bounds_of, flag, propensity_bounds
from estimators.propensity import propensity_scores
from estimators.registry import register

__all__ = ["InversePropensityWeighting"]


def _weights(t: np.ndarray, e: np.ndarray, estimand: str):
    """Arm weights and their derivative factor d(weight)/d(logit e) for the sandwich."""
    if estimand == "ate":
        return t / e, (1 - t) / (1 - e), -t * (1 - e) / e, (1 - t) * e / (1 - e)
    if estimand == "att":
        return t, (1 - t) * e / (1 - e), np.zeros_like(t), (1 - t) * e / (1 - e)
    return t * (1 - e) / e, 1 - t, -t * (1 - e) / e, np.zeros_like(t)


@register
class InversePropensityWeighting(Estimator):
    name = "ipw"
    family = "backdoor propensity"
    summary = "inverse-propensity weighting (Hajek), logistic propensity, sandwich errors"

    class Options(EstimatorOptions):
        clip: Annotated[float | tuple[float, float] | None, propensity_bounds()] = Field(
            None, description="propensity bounds: c for [c, 1 - c], c in (0, 0.5), or [low, high]; null: none")
        stabilize: Annotated[bool, flag()] = Field(
            True, description="true: stabilised weights, Hajek; false: Horvitz-Thompson")
        propensity_model: PropensityModel = "logistic"

    def _fit(self, data: CausalData) -> Fit:
        t, y = data.T, data.Y
        e, model = propensity_scores(data.covariates, t, self.options.propensity_model, self.seed)
        fitted = e  # the logistic score uses the fitted propensity, not the clipped one
        bounds = bounds_of(self.options.clip)
        stabilize = self.options.stabilize
        if bounds is not None:
            clipped = (e < bounds[0]) | (e > bounds[1])
            e = np.clip(e, *bounds)
        else:
            clipped = np.zeros_like(e, dtype=bool)
        w1, w0, d1, d0 = _weights(t, e, self.estimand)
        d1, d0 = np.where(clipped, 0.0, d1), np.where(clipped, 0.0, d0)
        # a flexible propensity is not in the sandwich: its scores are treated as known (for the ATE this
        # is conservative: estimating the propensity lowers the variance, Hirano, Imbens & Ridder 2003)
        Z = model.design(data.covariates) if model is not None else np.zeros((len(t), 0))
        n, k = Z.shape
        if stabilize:
            # psi_a = w_a (y - mu_a): each arm normalised by its own weight total
            g1, g0 = w1, w0
            mu1, mu0 = (w1 @ y) / w1.sum(), (w0 @ y) / w0.sum()
            s1, s0 = y - mu1, y - mu0
            psi1, psi0 = w1 * s1, w0 * s0
        else:
            # psi_a = w_a y - g mu_a, g = 1 (ATE), t (ATT), 1 - t (ATC): the expected weight total
            g = {"ate": np.ones_like(t), "att": t, "atc": 1 - t}[self.estimand]
            g1 = g0 = g
            mu1, mu0 = (w1 @ y) / g.sum(), (w0 @ y) / g.sum()
            s1 = s0 = y
            psi1, psi0 = w1 * y - g * mu1, w0 * y - g * mu0
        psi = np.hstack([Z * (t - fitted)[:, None], psi1[:, None], psi0[:, None]])
        A = np.zeros((k + 2, k + 2))
        A[:k, :k] = -(Z * (fitted * (1 - fitted))[:, None]).T @ Z / n
        A[k, :k] = (d1 * s1) @ Z / n
        A[k + 1, :k] = (d0 * s0) @ Z / n
        A[k, k], A[k + 1, k + 1] = -g1.mean(), -g0.mean()
        B = psi.T @ psi / n
        A_inv = np.linalg.pinv(A)
        cov = A_inv @ B @ A_inv.T / n
        contrast = np.zeros(k + 2)
        contrast[k], contrast[k + 1] = 1.0, -1.0
        ess = {arm: float(w.sum() ** 2 / (w**2).sum()) for arm, w in (("treated", w1), ("control", w0))}
        return Fit(value=float(mu1 - mu0), std_error=float(np.sqrt(contrast @ cov @ contrast)),
                method=f"inverse-propensity weighting, {self.options.propensity_model} propensity, "
                       + ("stabilised (Hajek)" if stabilize else "Horvitz-Thompson"),
                details={"clipped_units": int(clipped.sum()), "effective_sample_size": ess,
                            "stabilized": stabilize, "max_weight": float(max(w1.max(), w0.max()))})
