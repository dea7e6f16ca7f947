"""Sensitivity to unobserved confounding: E-values and the Cinelli-Hazlett omitted-variable-bias analysis.

E-value (VanderWeele & Ding 2017): the minimum risk-ratio association an unmeasured confounder would
need with both treatment and outcome to explain the estimate away. A continuous outcome is put on the
risk-ratio scale with the standardised-difference approximation RR ~ exp(0.91 d), d = effect / pooled
within-arm SD of the outcome (VanderWeele 2017, "On a square-root transformation of the odds ratio",
and VanderWeele & Ding 2017, eq. for continuous outcomes); a 0/1 outcome uses RR = (p0 + effect) / p0
with p0 the control arm's mean.

Omitted-variable bias (Cinelli & Hazlett 2020, JRSS-B): from the OLS of Y on D and the adjustment set,
the partial R2 of D with Y, the robustness values RV_q and RV_{q,alpha} (sec. 4.1, eqs. 18-19), bounds
on confounders k times as strong as an observed covariate (sec. 4.4, eqs. 20-22) and the contour of
the adjusted estimate (sec. 5). For estimators other than OLS the robustness values use their own
t = estimate / SE with the OLS degrees of freedom, the t-based approximation the paper's formulas allow.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from estimators.base import CausalData, Estimate

__all__ = ["SensitivityReport", "OlsSensitivity", "analyse_sensitivity", "ols_sensitivity", "partial_r2",
           "robustness_value", "evalue", "evalue_of_estimate", "adjusted_estimate", "benchmark_bound",
           "check_benchmark", "per_estimator", "ADJUSTED_FIELDS",
           "benchmark_rows", "group_r2"]

log = logging.getLogger(__name__)
_APPROX_CONTINUOUS = "standardised difference, RR = exp(0.91 d), d = effect / pooled SD of the outcome"
ADJUSTED_FIELDS = ("adjusted_estimate", "adjusted_se", "adjusted_t", "adjusted_ci_low", "adjusted_ci_high")
_APPROX_BINARY = "risk ratio (p0 + effect) / p0, p0 = outcome mean in the control arm"


def partial_r2(t: float, dof: int) -> float:
    """Partial R2 of a regressor from its t-statistic (Cinelli & Hazlett 2020, eq. 12)."""
    return t**2 / (t**2 + dof)


def robustness_value(t: float, dof: int, q: float = 1.0, alpha: float = 1.0) -> float:
    """RV_{q,alpha} (Cinelli & Hazlett 2020, eqs. 18-19): confounding, as partial R2 with both D and Y,
    that reduces the estimate by 100q% (alpha=1) or makes its (1-alpha) CI include (1-q) times it."""
    fq = q * abs(t) / math.sqrt(dof)
    f_crit = abs(stats.t.ppf(alpha / 2, dof - 1)) / math.sqrt(dof - 1) if alpha < 1 else 0.0
    fqa = fq - f_crit
    if fqa < 0:
        return 0.0
    if f_crit > 0 and fq > 1 / f_crit:  # the extreme case, where the bound on R2_{D~Z|X} binds (footnote 8)
        return (fq**2 - f_crit**2) / (1 + fq**2)
    return 0.5 * (math.sqrt(fqa**4 + 4 * fqa**2) - fqa**2)


def adjusted_estimate(estimate: float, se: float, dof: int, r2dz_x: float, r2yz_dx: float,
                      alpha: float = 0.05) -> dict[str, float]:
    """The estimate, SE, t and CI after removing the bias of a confounder with these partial R2s
    (Cinelli & Hazlett 2020, eqs. 10-11), moving the estimate towards zero."""
    bias = se * math.sqrt(r2yz_dx * r2dz_x / (1 - r2dz_x)) * math.sqrt(dof)
    value = math.copysign(1.0, estimate) * (abs(estimate) - bias)
    new_se = se * math.sqrt((1 - r2yz_dx) / (1 - r2dz_x)) * math.sqrt(dof / (dof - 1))
    crit = stats.t.ppf(1 - alpha / 2, dof - 1)
    return {"adjusted_estimate": value, "adjusted_se": new_se, "adjusted_t": value / new_se,
            "adjusted_ci_low": float(value - crit * new_se), "adjusted_ci_high": float(value + crit * new_se)}


def benchmark_bound(r2dxj_x: float, r2yxj_dx: float, kd: float, ky: float | None = None) -> tuple[float, float]:
    """(R2_{D~Z|X}, R2_{Y~Z|D,X}) of a confounder kd (ky) times as strong as covariate X_j
    (Cinelli & Hazlett 2020, eqs. 20-22, with the correction for X_j's association with D)."""
    ky = kd if ky is None else ky
    r2dz_x = kd * r2dxj_x / (1 - r2dxj_x)
    if r2dz_x >= 1:
        return r2dz_x, math.nan
    r2zxj_xd = kd * r2dxj_x**2 / ((1 - kd * r2dxj_x) * (1 - r2dxj_x))
    r2yz_dx = ((math.sqrt(ky) + math.sqrt(r2zxj_xd)) / math.sqrt(1 - r2zxj_xd)) ** 2 * r2yxj_dx / (1 - r2yxj_dx)
    return r2dz_x, r2yz_dx  # either may reach 1: no such confounder exists (the caller says so)


def evalue(rr: float) -> float:
    """E-value of a risk ratio (VanderWeele & Ding 2017, eq. 2); ratios below 1 are inverted."""
    if not math.isfinite(rr) or rr <= 0:
        return math.nan
    rr = rr if rr >= 1 else 1 / rr
    return rr + math.sqrt(rr * (rr - 1))


def evalue_of_estimate(effect: float, ci_low: float, ci_high: float, *, scale: float, binary: bool) -> dict:
    """E-values of the estimate and of the CI bound closer to the null (1 when the CI covers it).
    scale: pooled SD of the outcome (continuous) or the control mean p0 (binary)."""
    def rr(x: float) -> float:
        return (scale + x) / scale if binary else math.exp(0.91 * x / scale)

    point = rr(effect)
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        bound = math.nan
    elif ci_low <= 0 <= ci_high:
        bound = 1.0
    else:
        bound = evalue(rr(ci_low if effect > 0 else ci_high))
    return {"risk_ratio": point, "evalue": evalue(point), "evalue_ci": bound,
            "approximation": _APPROX_BINARY if binary else _APPROX_CONTINUOUS}


@dataclass(frozen=True)
class OlsSensitivity:
    """Cinelli-Hazlett statistics of the OLS of Y on D and the adjustment set."""

    estimate: float
    se: float
    t: float
    dof: int
    r2yd_x: float
    rv_q1: float
    rv_q1_alpha05: float
    benchmark: str | None
    r2dxj_x: float | None = None
    r2yxj_dx: float | None = None
    bounds: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class SensitivityReport:
    ols: OlsSensitivity | None
    per_estimator: dict[str, dict]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _ols(D: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Coefficients, classical covariance and residual dof (Cinelli & Hazlett's formulas assume these)."""
    n, k = D.shape
    Q, R = np.linalg.qr(D)
    beta = np.linalg.solve(R, Q.T @ y)
    dof = n - k
    sigma2 = float(((y - D @ beta) ** 2).sum()) / dof
    R_inv = np.linalg.inv(R)
    return beta, sigma2 * R_inv @ R_inv.T, dof


def group_r2(beta: np.ndarray, cov: np.ndarray, columns: list[int], dof: int) -> float:
    """Partial R2 of a group of regressors from its Wald F (one column: t^2 / (t^2 + dof))."""
    b = beta[columns]
    f = float(b @ np.linalg.solve(cov[np.ix_(columns, columns)], b)) / len(columns)
    return f * len(columns) / (f * len(columns) + dof)


def _benchmark_columns(names: list[str], benchmark: str) -> list[int]:
    return [i for i, n in enumerate(names) if n == benchmark or n.startswith(f"{benchmark}=")]


def ols_sensitivity(Y: np.ndarray, D: np.ndarray, W: np.ndarray, w_names: list[str], benchmark: str | None = None,
                    multiples: tuple[float, ...] = (1.0, 2.0, 3.0), alpha: float = 0.05) -> OlsSensitivity:
    """Partial R2, robustness values and benchmark bounds for the coefficient of D (a 'benchmark' that
    is a one-hot categorical is taken as its group of dummies)."""
    ones = np.ones((len(Y), 1))
    beta, cov, dof = _ols(np.hstack([ones, D[:, None], W]), Y)
    estimate, se = float(beta[1]), float(math.sqrt(cov[1, 1]))
    t = estimate / se
    base = dict(estimate=estimate, se=se, t=t, dof=dof, r2yd_x=partial_r2(t, dof), rv_q1=robustness_value(t, dof),
                rv_q1_alpha05=robustness_value(t, dof, alpha=alpha), benchmark=benchmark)
    if benchmark is None:
        return OlsSensitivity(**base)
    columns = _benchmark_columns(w_names, benchmark)
    if not columns:
        raise ValueError(f"benchmark covariate {benchmark!r} is not in the adjustment set {w_names}")
    r2yxj = group_r2(beta, cov, [c + 2 for c in columns], dof)
    beta_d, cov_d, dof_d = _ols(np.hstack([ones, W]), D)
    r2dxj = group_r2(beta_d, cov_d, [c + 1 for c in columns], dof_d)
    bounds = benchmark_rows(estimate, se, dof, r2dxj, r2yxj, benchmark, multiples, alpha)
    return OlsSensitivity(**base, r2dxj_x=r2dxj, r2yxj_dx=r2yxj, bounds=bounds)


def benchmark_rows(estimate: float, se: float, dof: int, r2dxj: float, r2yxj: float, benchmark: str,
                   multiples, alpha: float) -> list[dict]:
    """The adjusted estimate under hidden confounders k times as strong as the benchmark covariate."""
    bounds = []
    for k in multiples:
        r2dz, r2yz = benchmark_bound(r2dxj, r2yxj, k)
        row = {"label": f"{k:g}x {benchmark}", "kd": k, "ky": k, "r2dz_x": r2dz, "r2yz_dx": r2yz}
        if 0 <= r2dz < 1 and 0 <= r2yz < 1:
            bounds.append(row | adjusted_estimate(estimate, se, dof, r2dz, r2yz, alpha))
        else:  # as sensemakr: an implied partial R2 of 1 or more is no possible confounder
            bounds.append(row | dict.fromkeys(ADJUSTED_FIELDS, math.nan) | {"note": "implied partial R2 reaches 1"})
    return bounds


def _strongest_covariate(data: CausalData) -> str | None:
    """The observed covariate (one-hot groups joined) most associated with the treatment."""
    if not data.covariate_names:
        return None
    roots = list(dict.fromkeys(n.split("=", 1)[0] for n in data.covariate_names))
    design = np.hstack([np.ones((data.n, 1)), data.covariates])
    beta, cov, dof = _ols(design, data.T)
    strength = {r: group_r2(beta, cov, [c + 1 for c in _benchmark_columns(data.covariate_names, r)], dof) for r in roots}
    return max(strength, key=strength.get)


def analyse_sensitivity(data: CausalData, estimates: list[Estimate], benchmark: str | None = None,
                        multiples: tuple[float, ...] = (1.0, 2.0, 3.0)) -> SensitivityReport:
    """E-values and robustness values for every successful estimate; OLS bounds against `benchmark`
    (default: the observed covariate most associated with the treatment)."""
    notes: list[str] = []
    ols = None
    try:
        chosen = benchmark or _strongest_covariate(data)
        ols = ols_sensitivity(data.Y, data.T, data.covariates, data.covariate_names, chosen, multiples)
        if benchmark is None and chosen:
            notes.append(f"benchmark covariate: {chosen} (most associated with the treatment; set "
                         f"sensitivity.benchmark to choose)")
    except (np.linalg.LinAlgError, ValueError) as exc:  # recorded, the E-values still stand
        notes.append(f"OLS sensitivity not computed: {exc}")
    binary_outcome = bool(np.isin(data.Y, (0.0, 1.0)).all())
    if binary_outcome:
        scale = float(data.Y[data.T == 0].mean()) if data.treatment_type == "binary" else float(data.Y.mean())
    else:
        arms = [data.Y[data.T == v] for v in (0.0, 1.0)] if data.treatment_type == "binary" else [data.Y]
        scale = math.sqrt(sum(a.var(ddof=1) * (a.size - 1) for a in arms) / sum(a.size - 1 for a in arms))
    if data.treatment_type != "binary":
        notes.append("continuous treatment: E-values are per unit of the treatment")
    dof = ols.dof if ols else data.n - data.covariates.shape[1] - 2
    per = per_estimator(estimates, scale=scale, binary_outcome=binary_outcome, dof=dof)
    log.info("sensitivity: %s", {k: round(v["evalue"], 3) for k, v in per.items()})
    return SensitivityReport(ols=ols, per_estimator=per, notes=notes)


def per_estimator(estimates, *, scale: float, binary_outcome: bool, dof: int) -> dict[str, dict]:
    """E-values of each successful estimate and its CI, and, where it has a standard error, its
    t-statistic's partial R2 and robustness values (Cinelli & Hazlett 2020) at `dof` residual
    degrees of freedom; shared by the in-memory and the streamed sensitivity."""
    per: dict[str, dict] = {}
    for e in estimates:
        if not e.ok or not math.isfinite(e.value):
            continue
        row = evalue_of_estimate(e.value, e.ci_low, e.ci_high, scale=scale, binary=binary_outcome)
        if math.isfinite(e.std_error) and e.std_error > 0:
            t = e.value / e.std_error
            row |= {"t": t, "r2yd_x": partial_r2(t, dof), "rv_q1": robustness_value(t, dof),
                    "rv_q1_alpha05": robustness_value(t, dof, alpha=0.05)}
        per[e.estimator] = row
    return per


def check_benchmark(spec, identification) -> None:
    """`sensitivity.benchmark` must be a covariate the analysis adjusts for: a SpecError before any work."""
    from whyflow.errors import SpecError

    benchmark = spec.sensitivity.benchmark
    if benchmark is None:
        return
    adjusted = [*(identification.backdoor or []), *spec.effect_modifiers]
    if benchmark not in adjusted:
        raise SpecError(f"analysis '{spec.name}': key 'sensitivity.benchmark' must be one of the adjusted covariates "
                        f"{sorted(set(adjusted))}; got {benchmark!r}")
