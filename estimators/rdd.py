"""Regression discontinuity by `rdrobust`: local-linear fit on each side of the cutoff.

The bandwidth is rdrobust's data-driven MSE-optimal one (`mserd`, triangular kernel), the point
estimate is the conventional local-polynomial jump and the 95% CI and p-value are the robust
bias-corrected ones (Calonico, Cattaneo & Titiunik 2014, Econometrica 82(6)); `std_error` is the
robust one. The estimand is the average effect for units at the cutoff. Diagnostics in the
details: the `rddensity` manipulation test of the running variable's density at the cutoff
(Cattaneo, Jansson & Ma 2020; p < 0.05 suggests sorting), and placebo cutoffs at the median of
each side, estimated on that side's units only, where no jump is expected.
A fuzzy design (take-up jumps at the cutoff but not from 0 to 1) must be declared with the option
fuzzy: true; its estimate is the effect for compliers at the cutoff (the jump in Y over the jump
in T), and the details hold the first-stage jump.
"""

from __future__ import annotations

from typing import Annotated

import contextlib
import io
import math
import warnings

import numpy as np
from pydantic import Field

from estimators.base import CausalData, Estimator, Fit, NotApplicable
from estimators.options import EstimatorOptions, integer, flag, choice
from estimators.registry import register

__all__ = ["RegressionDiscontinuity", "rd_fit"]


def rd_fit(y: np.ndarray, r: np.ndarray, cutoff: float, **options) -> tuple[object, str]:
    """rdrobust's result and whatever it printed (it reports mass points on stdout)."""
    from rdrobust import rdrobust

    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore")  # pandas FutureWarnings inside rdrobust; nothing users can act on
        result = rdrobust(y, r, c=cutoff, **options)
    return result, printed.getvalue().strip()


def _density_p(r: np.ndarray, cutoff: float) -> tuple[float | None, str | None]:
    """The manipulation test's robust p-value, or None and why (e.g. too few distinct scores)."""
    from rddensity import rddensity

    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            p = float(rddensity(X=r, c=cutoff).test["p_jk"])
    except Exception as exc:  # a diagnostic: recorded, never fatal to the estimate
        return None, f"{type(exc).__name__}: {exc}"
    return (p, None) if math.isfinite(p) else (None, "rddensity returned no p-value")


def _placebo(y: np.ndarray, r: np.ndarray, cutoff: float, side: str, options: dict) -> dict:
    rows = r < cutoff if side == "left" else r >= cutoff
    at = float(np.median(r[rows]))
    try:
        fit, _ = rd_fit(y[rows], r[rows], at, **options)
        return {"side": side, "cutoff": at, "estimate": float(fit.coef.iloc[0, 0]),
                "p_value": float(fit.pv.iloc[2, 0])}
    except Exception as exc:  # too few units on one side of a placebo cutoff: recorded, not fatal
        return {"side": side, "cutoff": at, "estimate": None, "p_value": None, "error": f"{type(exc).__name__}: {exc}"}


@register
class RegressionDiscontinuity(Estimator):
    name = "rdd"
    family = "regression discontinuity"
    summary = "sharp (or declared fuzzy) RD by rdrobust: MSE-optimal bandwidth, robust bias-corrected CI"
    estimands = ("late at cutoff", "ate")
    requires = ("running_variable", "cutoff")

    class Options(EstimatorOptions):
        p: Annotated[int, integer(0, 4)] = Field(1, description="local polynomial order")
        kernel: Annotated[str, choice("triangular", "epanechnikov", "uniform")] = Field(
            "triangular", description="kernel of the local fit")
        bwselect: Annotated[str, choice("mserd", "msetwo", "msesum", "msecomb1", "msecomb2", "cerrd", "certwo",
                                        "cersum", "cercomb1", "cercomb2")] = Field(
            "mserd", description="rdrobust bandwidth rule")
        diagnostics: Annotated[bool, flag()] = Field(True, description="density test and placebo cutoffs")
        fuzzy: Annotated[bool, flag()] = Field(
            False, description="treatment take-up jumps at the cutoff but not from 0 to 1")

    def _fit(self, data: CausalData) -> Fit:
        if data.R is None or data.cutoff is None:
            raise NotApplicable(f"{self.name} needs a running variable and a cutoff; declare 'running_variable' "
                                "and 'cutoff' in the spec")
        r, y, c = data.R, data.Y, float(data.cutoff)
        above = r >= c
        if above.all() or not above.any():
            raise NotApplicable(f"{self.name}: every unit lies on one side of the cutoff {c:g}")
        # Sharp design: treatment switches on at the cutoff (or off, if the treated lie below it).
        # A fuzzy one is only taken when declared: a permuted treatment (the placebo refuter) must
        # not pass for a fuzzy design with no first stage.
        treated_above = data.T[above].mean() >= data.T[~above].mean()
        expected = above if treated_above else ~above
        wrong = int(np.sum(data.T != expected))
        fuzzy = self.options.fuzzy
        if wrong and not fuzzy:
            raise NotApplicable(f"{self.name}: the treatment is not a sharp step at the cutoff {c:g} ({wrong} of "
                                f"{data.n} units on the wrong side); for a fuzzy design set estimator_options: "
                                "{rdd: {fuzzy: true}}")
        options = {"p": self.options.p, "kernel": self.options.kernel,
                   "bwselect": self.options.bwselect}
        fit, printed = rd_fit(y, r, c, **options, **({"fuzzy": data.T} if fuzzy else {}))
        # rdrobust measures right-minus-left; a fuzzy ratio already carries the first stage's sign
        sign = 1.0 if treated_above or fuzzy else -1.0
        value = sign * float(fit.coef.iloc[0, 0])
        ci = sorted(sign * float(v) for v in fit.ci.iloc[2])
        details = {"bandwidth": {"h_left": float(fit.bws.iloc[0, 0]), "h_right": float(fit.bws.iloc[0, 1]),
                                 "b_left": float(fit.bws.iloc[1, 0]), "b_right": float(fit.bws.iloc[1, 1])},
                   "n_left": int(fit.N[0]), "n_right": int(fit.N[1]),
                   "n_left_in_bandwidth": int(fit.N_h[0]), "n_right_in_bandwidth": int(fit.N_h[1]),
                   "bias_corrected": sign * float(fit.coef.iloc[1, 0]), "se_conventional": float(fit.se.iloc[0, 0]),
                   "treated_side": "above" if treated_above else "below", "design": "fuzzy" if fuzzy else "sharp",
                   **options}
        if fuzzy:  # the jump in take-up: the design's first stage (robust bias-corrected p-value)
            details["first_stage_jump"] = float(fit.tau_T.iloc[0, 0])
            details["first_stage_p"] = float(fit.pv_T.iloc[2, 0])
        if printed:
            details["rdrobust_notes"] = printed
        if self.options.diagnostics:
            details["density_test_p"], problem = _density_p(r, c)
            if problem:
                details["density_test_error"] = problem
            details["placebo_cutoffs"] = [_placebo(y, r, c, side, options) for side in ("left", "right")]
        return Fit(value=value, std_error=float(fit.se.iloc[2, 0]), ci_low=ci[0], ci_high=ci[1],
                p_value=float(fit.pv.iloc[2, 0]), details=details, estimand="late at cutoff",
                n=int(sum(fit.N_h)))
