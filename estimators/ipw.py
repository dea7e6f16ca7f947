"""Inverse-propensity weighting (normalised, Hajek) with an M-estimation sandwich variance.

The variance stacks the logistic score with the two weighted means, so it accounts for the
propensity being estimated (Lunceford & Davidian 2004). Option: clip=c or clip=(low, high) bounds
the propensity (clipped units then carry no propensity-estimation term).
"""

from __future__ import annotations

import numpy as np

from estimators.base import CausalData, Estimator
from estimators.propensity import propensity_scores
from estimators.registry import register


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

    def _fit(self, data: CausalData) -> dict:
        t, y = data.T, data.Y
        e, model = propensity_scores(data.W, t)
        clip = self.options.get("clip")
        if clip is not None:
            low, high = (clip, 1 - clip) if np.isscalar(clip) else clip
            clipped = (e < low) | (e > high)
            e = np.clip(e, low, high)
        else:
            clipped = np.zeros_like(e, dtype=bool)
        w1, w0, d1, d0 = _weights(t, e, self.estimand)
        d1, d0 = np.where(clipped, 0.0, d1), np.where(clipped, 0.0, d0)
        mu1, mu0 = (w1 @ y) / w1.sum(), (w0 @ y) / w0.sum()
        Z = model.design(data.W)
        n, k = Z.shape
        r1, r0 = y - mu1, y - mu0
        # Stacked estimating equations psi = [(t - e) Z, w1 (y - mu1), w0 (y - mu0)].
        psi = np.hstack([Z * (t - e)[:, None], (w1 * r1)[:, None], (w0 * r0)[:, None]])
        A = np.zeros((k + 2, k + 2))
        A[:k, :k] = -(Z * (e * (1 - e))[:, None]).T @ Z / n
        A[k, :k] = (d1 * r1) @ Z / n
        A[k + 1, :k] = (d0 * r0) @ Z / n
        A[k, k], A[k + 1, k + 1] = -w1.mean(), -w0.mean()
        B = psi.T @ psi / n
        A_inv = np.linalg.pinv(A)
        cov = A_inv @ B @ A_inv.T / n
        contrast = np.zeros(k + 2)
        contrast[k], contrast[k + 1] = 1.0, -1.0
        ess = {arm: float(w.sum() ** 2 / (w**2).sum()) for arm, w in (("treated", w1), ("control", w0))}
        return {"value": float(mu1 - mu0), "std_error": float(np.sqrt(contrast @ cov @ contrast)),
                "details": {"clipped_units": int(clipped.sum()), "effective_sample_size": ess}}
