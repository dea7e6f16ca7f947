"""Doubly robust inference on top of the networks (numpy only): the AIPW average effect of a binary
treatment and the DR dose-response curve of a continuous one, each with an influence-function interval.

Why: an ensemble's spread (bootstrap members) measures the networks' variance, not the plug-in bias
of a regularised, early-stopped outcome model; on IHDP the TARNet and DCN-PD ensemble intervals
covered the sample ATE 70-74% of the time and the dose-response bands 38-60% of the grid
(bench/results/deep-*.md, 2026-11-30). A doubly robust score removes the first-order bias of the
outcome model with a propensity (or a density ratio), and its influence function gives the interval.

Outcome predictions are out-of-bag: each row gets the mean over the members that did not train on it
(the bootstrap's cross-fitting), or over all members when every member saw it.
"""

from __future__ import annotations

import math

import numpy as np

from estimators.scores import dr_scores

__all__ = ["out_of_bag_mean", "aipw", "dr_pseudo_outcome", "local_linear", "cv_bandwidth", "Z95"]

Z95 = 1.959963984540054


def out_of_bag_mean(predictions: np.ndarray, val_weight: np.ndarray) -> np.ndarray:
    """Per row, the mean of the members' predictions (members x rows) over the members that left it out."""
    out = np.asarray(val_weight) > 0
    count = out.sum(axis=0)
    oob = (predictions * out).sum(axis=0) / np.maximum(count, 1)
    return np.where(count > 0, oob, predictions.mean(axis=0))


def aipw(y, t, mu0, mu1, e, estimand: str, clip: float = 0.01) -> tuple[float, float, dict]:
    """AIPW estimate of the estimand and its influence-function standard error (Robins, Rotnitzky & Zhao
    1994; Hahn 1998 for ATT/ATC); the propensity is kept in [clip, 1 - clip]."""
    clipped = int(((e < clip) | (e > 1 - clip)).sum())
    e = np.clip(e, clip, 1 - clip)
    value, psi = dr_scores(np.asarray(y, float), np.asarray(t, float), mu0, mu1, e, estimand)
    se = float(np.sqrt(np.mean(psi**2) / len(psi)))
    return value, se, {"clipped_units": clipped, "clip": clip}


def dr_pseudo_outcome(y, mu_factual, ratio, marginal_mu) -> np.ndarray:
    """Kennedy, Ma, McHugh & Small (2017), eq. 3: xi = (y - mu(t, x)) pi(t) / pi(t | x) + int mu(t, x) dP(x).
    Its regression on t is the dose-response curve when either the outcome model or the density ratio
    pi(t | x) / pi(t) is right."""
    return (np.asarray(y, float) - mu_factual) * ratio + marginal_mu


def _epanechnikov(u):
    return np.where(np.abs(u) < 1, 0.75 * (1 - u**2), 0.0)


def local_linear(t, xi, grid, bandwidth: float, degree: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Local polynomial (linear by default) regression of xi on t at the grid points (Epanechnikov kernel)
    and its sandwich (heteroskedasticity-robust) standard error, the variance estimator of Kennedy et al.
    (2017, thm. 3). degree=2 at the same bandwidth is the robust bias correction of Calonico, Cattaneo &
    Farrell (2018): the local linear fit's leading smoothing bias removed, its variance in the band."""
    t, xi = np.asarray(t, float), np.asarray(xi, float)
    fit, se = np.empty(len(grid)), np.empty(len(grid))
    for i, g in enumerate(grid):
        k = _epanechnikov((t - g) / bandwidth)
        design = np.column_stack([(t - g) ** d for d in range(degree + 1)])
        bread = design.T @ (design * k[:, None])
        if np.linalg.matrix_rank(bread) < degree + 1:
            fit[i], se[i] = math.nan, math.nan
            continue
        inverse = np.linalg.inv(bread)
        beta = inverse @ (design.T @ (k * xi))
        residual = xi - design @ beta
        meat = design.T @ (design * (k**2 * residual**2)[:, None])
        fit[i], se[i] = beta[0], math.sqrt(max((inverse @ meat @ inverse)[0, 0], 0.0))
    return fit, se


def _loo_risk(t, xi, bandwidth: float) -> float:
    """Leave-one-out squared error of the local linear smoother at the data points (closed form via the
    hat matrix diagonal)."""
    diff = t[None, :] - t[:, None]  # row i: t_j - t_i
    k = _epanechnikov(diff / bandwidth)
    s0, s1, s2 = k.sum(1), (k * diff).sum(1), (k * diff**2).sum(1)
    det = s0 * s2 - s1**2
    ok = det > 1e-12 * np.maximum(s0 * s2, 1e-300)
    weights = k * (s2[:, None] - s1[:, None] * diff) / np.where(ok, det, 1.0)[:, None]
    fitted, leverage = weights @ xi, np.diag(weights)
    loo = (xi - fitted) / np.maximum(1 - leverage, 1e-3)
    return float(np.mean(loo[ok & (leverage < 0.999)] ** 2)) if ok.any() else math.inf


def cv_bandwidth(t, xi, candidates: np.ndarray | None = None, max_rows: int = 4000, seed: int = 0) -> float:
    """The bandwidth minimising the leave-one-out risk of the local linear fit (Kennedy et al. 2017,
    sec. 3.5), over a grid from 2% to 50% of the treatment's range; on at most `max_rows` rows."""
    t, xi = np.asarray(t, float), np.asarray(xi, float)
    if len(t) > max_rows:
        rows = np.random.default_rng(seed).choice(len(t), max_rows, replace=False)
        t, xi = t[rows], xi[rows]
    span = float(t.max() - t.min())
    candidates = span * np.geomspace(0.02, 0.5, 20) if candidates is None else candidates
    risks = [_loo_risk(t, xi, h) for h in candidates]
    return float(candidates[int(np.argmin(risks))])
