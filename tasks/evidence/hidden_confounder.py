"""A simulated hidden confounder as strong as multiples of the strongest observed one.

Cinelli & Hazlett's (2020, sec. 4.4) benchmarking idea, simulated rather than bounded so it serves
every estimator: the benchmark is the covariate whose partial R2 with the treatment (given the other
covariates) and with the outcome (given the treatment and the others) would bias an OLS estimate the
most, |bias| ~ sqrt(R2_y R2_d / (1 - R2_d)) (their eq. 10). A confounder k times as strong explains k
times the benchmark's share of each residual variance: targets R2_{D~U|X} = k R2_d and R2_{Y~U|D,X} =
k R2_y (a multiple reaching 1 is impossible and skipped). Their eqs. 20-22 also correct for the
benchmark's own tie to T; those are bounds, not targets, and with a benchmark that explains half of
Y's residual variance they declare even k = 1 impossible, so the simulation uses the plain multiples.
U = sqrt(R2_d) T_perp/SD(T_perp) + sqrt(1 - R2_d) e hits the first target, and adding g U to Y,
pushed towards zero, with g = sqrt(R2_y / (1 - R2_y)) SD(Y_perp) / sqrt(1 - R2_d) hits the second;
U is left out of the adjustment and the estimator is re-fitted once per multiple.
PASS when a confounder as strong as the strongest observed one (k = 1) neither flips the sign nor
takes the 95% CI across 0; FAIL otherwise; inconclusive when the estimate is not significant to
begin with or no confounder of that strength can exist.
"""

from __future__ import annotations

import math

import numpy as np

from estimators.base import CausalData, Estimate
from tasks.evidence.refutation import Plan, RefuteContext, RefuterSpec, Refutation, refutation_of

__all__ = ["MULTIPLES", "HIDDEN_CONFOUNDER", "strongest_confounder"]

MULTIPLES = (0.5, 1.0, 2.0, 3.0)


def _ols(D: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Coefficients, classical t statistics and residual dof (the R2-from-t identity needs classical SEs)."""
    n, k = D.shape
    beta, *_ = np.linalg.lstsq(D, y, rcond=None)
    resid = y - D @ beta
    dof = max(n - k, 1)
    sigma2 = resid @ resid / dof
    se = np.sqrt(np.maximum(np.diag(np.linalg.pinv(D.T @ D)) * sigma2, 1e-300))
    return beta, beta / se, dof


def strongest_confounder(data: CausalData) -> dict:
    """The covariate an omitted copy of which would bias OLS the most, with its partial R2s."""
    ones = np.ones((data.n, 1))
    t_beta, t_stats, t_dof = _ols(np.hstack([ones, data.covariates]), data.T)
    _, y_stats, y_dof = _ols(np.hstack([ones, data.T[:, None], data.covariates]), data.Y)
    r2d = t_stats[1:] ** 2 / (t_stats[1:] ** 2 + t_dof)
    r2y = y_stats[2:] ** 2 / (y_stats[2:] ** 2 + y_dof)
    strength = np.sqrt(r2y * r2d / (1 - r2d))
    j = int(np.argmax(strength))
    return {"benchmark": data.covariate_names[j], "r2_treatment": float(r2d[j]), "r2_outcome": float(r2y[j])}


def _plan(data: CausalData, estimate: Estimate, context: RefuteContext) -> Plan | str:
    if data.covariates.shape[1] == 0:
        return "no observed covariate to calibrate a hidden confounder against"
    if "hidden_confounder" not in context.cache:
        benchmark = strongest_confounder(data)
        ones = np.ones((data.n, 1))
        t_perp = data.T - np.hstack([ones, data.covariates]) @ _ols(np.hstack([ones, data.covariates]), data.T)[0]
        full = np.hstack([ones, data.T[:, None], data.covariates])
        y_perp = data.Y - full @ _ols(full, data.Y)[0]
        targets = []
        for k in MULTIPLES:
            r2d, r2y = k * benchmark["r2_treatment"], k * benchmark["r2_outcome"]
            possible = r2d < 1 and r2y < 1
            targets.append((k, r2d, r2y, possible))
        context.cache["hidden_confounder"] = (benchmark, t_perp / (t_perp.std() or 1.0), float(y_perp.std()), targets)
    benchmark, t_unit, y_sd, targets = context.cache["hidden_confounder"]
    possible = [t for t in targets if t[3]]
    if not possible:
        return f"no confounder even {MULTIPLES[0]}x as strong as {benchmark['benchmark']!r} can exist"
    towards_zero = -1.0 if estimate.value > 0 else 1.0
    return Plan(count=len(possible), context=(benchmark, t_unit, y_sd, possible, towards_zero,
                                              [t for t in targets if not t[3]]))


def _add_confounder(data: CausalData, rng: np.random.Generator, index: int, context) -> CausalData:
    _, t_unit, y_sd, targets, direction, _ = context
    _, r2d, r2y, _ = targets[index]
    u = math.sqrt(r2d) * t_unit + math.sqrt(1 - r2d) * rng.standard_normal(data.n)
    gain = math.sqrt(r2y / (1 - r2y)) * y_sd / math.sqrt(1 - r2d)
    return data.replace(Y=data.Y + direction * gain * u)


def _smallest(rows: list[dict], key: str) -> float | str:
    hits = [r["multiple"] for r in rows if r[key]]
    return min(hits) if hits else f"none up to {MULTIPLES[-1]:g}x"


def _conclusion(refuter: str, spec: RefuterSpec, estimate: Estimate, fits: np.ndarray, context) -> Refutation:
    benchmark, _, _, targets, _, impossible = context
    sign = math.copysign(1.0, estimate.value)
    rows = []
    for (k, r2d, r2y, _), (value, se, low, high) in zip(targets, fits):
        rows.append({"multiple": k, "r2_treatment": r2d, "r2_outcome": r2y, "estimate": float(value),
                     "ci_low": float(low), "ci_high": float(high), "flips_sign": bool(value * sign <= 0),
                     "loses_significance": bool(low <= 0 if sign > 0 else high >= 0)})
    significant = estimate.ci_low > 0 or estimate.ci_high < 0
    at_one = [r for r in rows if r["multiple"] <= 1.0]
    details = {**benchmark, "multiples": rows, "impossible_multiples": [t[0] for t in impossible],
               "smallest_multiple_flipping_sign": _smallest(rows, "flips_sign"),
               "smallest_multiple_removing_significance": _smallest(rows, "loses_significance")}
    if not significant:
        verdict, passed = "inconclusive", None
        details["reason"] = "the estimate's 95% CI already includes 0; there is no significance to remove"
    elif not any(r["multiple"] == 1.0 for r in rows):
        verdict, passed = "inconclusive", None
        details["reason"] = f"no confounder as strong as {benchmark['benchmark']!r} can exist"
    else:
        broken = any(r["flips_sign"] or r["loses_significance"] for r in at_one)
        verdict, passed = ("fail", False) if broken else ("pass", True)
    at_k1 = next((r for r in rows if r["multiple"] == 1.0), rows[0])
    values = fits[:, 0]
    return refutation_of(refuter, estimate, spec, new_effect=at_k1["estimate"], new_effect_sd=math.nan,
                         p_value=None, passed=passed, verdict=verdict, simulations=len(rows),
                         interval_low=float(values.min()), interval_high=float(values.max()), details=details)


HIDDEN_CONFOUNDER = RefuterSpec(
    "sensitivity", "says how strong a hidden confounder would have to be, in multiples of the strongest observed "
    "one, to flip the sign or the significance; cannot say whether such a confounder exists",
    f"pass when a hidden confounder as strong as the strongest observed covariate (k = 1; k in {MULTIPLES}) "
    "neither flips the sign nor takes the 95% CI across 0; fail otherwise", _plan, _add_confounder, _conclusion)
