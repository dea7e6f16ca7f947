"""Two-stage least squares with HC1 errors, the first-stage F statistic and a weak-instrument warning.

Y = a + b T + W g + e with T instrumented by Z (covariates W are their own instruments). The first
stage F is the HC1-robust Wald statistic of the excluded instruments divided by their number; with
one endogenous regressor it is, up to small-sample scaling, the Kleibergen-Paap rk Wald F of
Stata's ivreg2. The homoskedastic F is reported beside it. F < 10 flags a weak instrument (Staiger
& Stock 1997), in the details and the log; with one instrument the details also hold the
Anderson-Rubin 95% set, which stays valid however weak the instrument. Estimand: with a binary
treatment and a single binary instrument the coefficient is the LATE of the compliers (Imbens &
Angrist 1994); otherwise it is the ATE per unit of treatment only if the effect is homogeneous,
and is labelled so.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import stats

from estimators.base import CausalData, Estimator, Fit, NotApplicable
from estimators.ols import ols_hc1
from estimators.registry import register

__all__ = ["TwoStageLeastSquares", "anderson_rubin", "first_stage", "iv_estimand", "require_instruments", "WEAK_F"]

log = logging.getLogger(__name__)
WEAK_F = 10.0


def require_instruments(name: str, data: CausalData) -> np.ndarray:
    """The instrument matrix, or NotApplicable naming what is missing."""
    if data.Z is None:
        raise NotApplicable(f"{name} needs instruments; declare 'instruments' in the spec")
    Z = data.Z[:, data.Z.std(axis=0) > 0]
    if Z.shape[1] == 0:
        raise NotApplicable(f"{name}: instrument(s) {data.z_names} are constant in the data")
    exog = np.hstack([np.ones((data.n, 1)), data.covariates])
    if np.linalg.matrix_rank(np.hstack([exog, Z])) <= np.linalg.matrix_rank(exog):
        raise NotApplicable(f"{name}: the instruments add no variation beyond the covariates")
    return Z


def iv_estimand(data: CausalData, Z: np.ndarray) -> str:
    binary_z = Z.shape[1] == 1 and set(np.unique(Z[:, 0])) <= {0.0, 1.0}
    return "late" if data.treatment_type == "binary" and binary_z else "ate under homogeneity"


def first_stage(T: np.ndarray, Z: np.ndarray, W: np.ndarray) -> dict:
    """Robust (HC1 Wald) and homoskedastic F of the excluded instruments in T ~ 1 + W + Z."""
    n, q = Z.shape
    D = np.hstack([np.ones((n, 1)), W, Z])
    beta, cov = ols_hc1(D, T)
    b = beta[-q:]
    robust = float(b @ np.linalg.pinv(cov[-q:, -q:]) @ b / q)
    restricted = D[:, :-q]
    rss_r = float(np.sum((T - restricted @ np.linalg.lstsq(restricted, T, rcond=None)[0]) ** 2))
    rss_f = float(np.sum((T - D @ beta) ** 2))
    dof = n - np.linalg.matrix_rank(D)
    plain = ((rss_r - rss_f) / q) / (rss_f / dof) if rss_f > 0 and dof > 0 else float("inf")
    return {"f_statistic": robust, "f_statistic_homoskedastic": float(plain),
            "f_p_value": float(stats.f.sf(robust, q, max(dof, 1))), "partial_r2": (rss_r - rss_f) / rss_r
            if rss_r > 0 else None, "coefficients": b.tolist()}


def anderson_rubin(Y: np.ndarray, T: np.ndarray, z: np.ndarray, W: np.ndarray) -> dict:
    """The 95% Anderson-Rubin set for one instrument, valid however weak it is (Anderson & Rubin 1949).

    It holds the b0 for which Z's coefficient in Y - b0 T ~ 1 + W + Z passes an HC1 Wald test. Both
    that coefficient and its variance are polynomials in b0, so the set solves a quadratic inequality:
    a bounded interval, or, when the instrument is too weak, the line minus an interval or all of it.
    """
    n = len(Y)
    D = np.column_stack([np.ones(n), W, z])
    row = np.linalg.pinv(D.T @ D)[-1] @ D.T  # z's coefficient is row @ target
    uy = Y - D @ np.linalg.lstsq(D, Y, rcond=None)[0]
    ut = T - D @ np.linalg.lstsq(D, T, rcond=None)[0]
    a, b = row @ Y, row @ T
    scale = float(stats.chi2.ppf(0.95, 1)) * n / max(n - D.shape[1], 1)
    syy, syt, stt = (row**2 * uy * uy).sum(), (row**2 * uy * ut).sum(), (row**2 * ut * ut).sum()
    qa, qb, qc = b * b - scale * stt, -2 * (a * b - scale * syt), a * a - scale * syy
    disc = qb * qb - 4 * qa * qc
    if qa > 0 and disc >= 0:
        roots = sorted(((-qb - np.sqrt(disc)) / (2 * qa), (-qb + np.sqrt(disc)) / (2 * qa)))
        return {"kind": "interval", "ci_low": float(roots[0]), "ci_high": float(roots[1])}
    if qa > 0:
        return {"kind": "empty"}
    if disc > 0:
        roots = sorted(((-qb - np.sqrt(disc)) / (2 * qa), (-qb + np.sqrt(disc)) / (2 * qa)))
        return {"kind": "unbounded: the line outside", "ci_low": float(roots[0]), "ci_high": float(roots[1])}
    return {"kind": "unbounded: the whole line"}


def weak_warning(name: str, f: float) -> str | None:
    if f >= WEAK_F:
        return None
    message = (f"weak instrument: first-stage F = {f:.2f} < {WEAK_F:g}; the {name} estimate is biased toward "
               "the confounded regression and its CI may undercover")
    log.warning(message)
    return message


@register
class TwoStageLeastSquares(Estimator):
    name = "iv_2sls"
    family = "instrumental variables"
    summary = "two-stage least squares, HC1 errors, robust first-stage F and weak-instrument warning"
    estimands = ("late", "ate under homogeneity", "ate")  # the spec asks for "ate"; refits ask for what was reported
    treatment_types = ("binary", "continuous")
    requires = ("instruments",)

    def _fit(self, data: CausalData) -> Fit:
        Z = require_instruments(self.name, data)
        n = data.n
        exog = np.hstack([np.ones((n, 1)), data.covariates])
        D = np.hstack([exog, data.T[:, None]])
        instruments = np.hstack([exog, Z])
        fitted = instruments @ np.linalg.lstsq(instruments, D, rcond=None)[0]
        beta = np.linalg.lstsq(fitted, data.Y, rcond=None)[0]
        resid = data.Y - D @ beta  # structural residuals use the actual treatment, not its projection
        bread = np.linalg.pinv(fitted.T @ fitted)
        meat = (fitted * (resid**2)[:, None]).T @ fitted
        cov = bread @ meat @ bread * (n / max(n - D.shape[1], 1))
        stage = first_stage(data.T, Z, data.covariates)
        warning = weak_warning(self.name, stage["f_statistic"])
        details = {"first_stage": stage, "f_statistic": stage["f_statistic"], "f_kind": "HC1-robust Wald "
                   "(Kleibergen-Paap with one endogenous regressor)", "weak_instrument": warning is not None,
                   "instruments": data.z_names, "controls": len(data.covariate_names)}
        if Z.shape[1] == 1:
            details["anderson_rubin_95"] = anderson_rubin(data.Y, data.T, Z[:, 0], data.covariates)
        if warning:
            details["warning"] = warning
        return Fit(value=float(beta[-1]), std_error=float(np.sqrt(cov[-1, -1])), details=details,
                estimand=iv_estimand(data, Z))
