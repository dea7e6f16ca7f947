"""Least squares with heteroskedasticity-robust (HC1) covariance, shared by the regression estimators."""

from __future__ import annotations

import numpy as np

__all__ = ["ols_hc1"]


def ols_hc1(D: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and their HC1 covariance (White 1980, with the n/(n-k) correction)."""
    n, k = D.shape
    beta, *_ = np.linalg.lstsq(D, y, rcond=None)
    resid = y - D @ beta
    bread = np.linalg.pinv(D.T @ D)
    meat = (D * (resid**2)[:, None]).T @ D
    cov = bread @ meat @ bread * (n / max(n - k, 1))
    return beta, cov
