"""Score functions the in-memory and streaming estimators share: the doubly robust score and the
weights that make each arm represent the estimand's population."""

from __future__ import annotations

import numpy as np

__all__ = ["unit_influence", "dr_terms", "dr_scores", "estimand_weights"]


def dr_terms(y, t, mu0, mu1, e, estimand: str) -> tuple[np.ndarray, np.ndarray]:
    """Doubly robust score numerator and the weight it is averaged over (estimate = sum raw / sum d):
    the ATE's efficient score (Robins, Rotnitzky & Zhao 1994) and Hahn's (1998) ATT/ATC scores.
    Sums of these are what the streaming passes accumulate."""
    if estimand == "att":
        return t * (y - mu0) - (1 - t) * e / (1 - e) * (y - mu0), t
    if estimand == "atc":
        return (1 - t) * (mu1 - y) + t * (1 - e) / e * (y - mu1), 1 - t
    return mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e), np.ones_like(y)


def dr_scores(y, t, mu0, mu1, e, estimand: str) -> tuple[float, np.ndarray]:
    """Point estimate and per-row influence-function values (mean zero) for ATE, ATT or ATC."""
    raw, d = dr_terms(y, t, mu0, mu1, e, estimand)
    if estimand == "ate":
        value = float(raw.mean())
        return value, raw - value
    value = float(raw.sum() / d.sum())
    return value, (raw - d * value) / d.mean()


def estimand_weights(t: np.ndarray, e: np.ndarray, estimand: str) -> np.ndarray:
    """Inverse-propensity weights for the estimand: both arms to the whole sample (ATE), the controls
    to the treated (ATT) or the treated to the controls (ATC)."""
    if estimand == "att":
        return np.where(t == 1, 1.0, e / (1 - e))
    if estimand == "atc":
        return np.where(t == 1, (1 - e) / e, 1.0)
    return np.where(t == 1, 1 / e, 1 / (1 - e))


def unit_influence(psi: np.ndarray, std_error: float, top: int = 10) -> dict:
    """How far single units move a mean-of-scores estimate: dropping row i shifts it by psi_i / (n - 1)
    (exact for the ATE with the nuisances held fixed, first order otherwise), here in standard errors.
    In well-behaved data the largest shift is about sqrt(2 log n / n) SE; one unit moving the answer by
    a sizeable share of its SE means extreme weights or outcomes drive it."""
    n = psi.size
    if n < 2 or not std_error or not np.isfinite(std_error):
        return {"max_shift_se": None, "row": None, "top_shift_se": None, "top": 0}
    order = np.argsort(-np.abs(psi), kind="stable")[:top]
    shift = np.abs(psi[order]) / (n - 1) / std_error
    return {"max_shift_se": float(shift[0]), "row": int(order[0]),
            "top_shift_se": float(abs(psi[order].sum()) / (n - order.size) / std_error), "top": int(order.size)}
