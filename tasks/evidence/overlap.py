"""Overlap and balance: propensity model and its calibration, common support, trimming, effective
sample size, and standardised mean differences and variance ratios before and after weighting.

The propensity model (logistic by default, LightGBM on request, cross-fitted) serves the diagnostics
and the trimming rule; the units a rule trims are removed before estimation (`OverlapReport.keep`),
so every estimator and refuter sees the same analysed sample. "Before" balance is the raw sample,
"after" is the analysed sample weighted for the estimand.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from estimators.base import CausalData
from estimators.propensity import propensity_scores
from estimators.scores import estimand_weights
from whyflow.spec import Gates, OverlapOptions

__all__ = ["OverlapReport", "check_overlap", "overlap_failures", "overlap_remedy", "judge_overlap", "single_arm_strata", "standardized_differences", "variance_ratios",
           "crump_alpha", "trim_mask", "calibration_table", "fit_propensity", "effective_sample_size"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OverlapReport:
    common_support: float
    support: tuple[float, float]
    propensity_treated: tuple[float, float]
    propensity_control: tuple[float, float]
    smd_before: dict[str, float]
    smd_after: dict[str, float]
    max_smd_before: float
    max_smd_after: float
    effective_sample_size: dict[str, float]
    histogram: dict[str, list[float]]
    variance_ratio_before: dict[str, float] = field(default_factory=dict)
    variance_ratio_after: dict[str, float] = field(default_factory=dict)
    propensity_model: str = "logistic"
    calibration: dict = field(default_factory=dict)
    trim: str = "none"
    trim_bounds: tuple[float, float] | None = None
    trimmed_units: int = 0
    analysed_units: int = 0
    # categorical confounders (fixed effects) whose levels hold only treated or only control units: a
    # within-stratum estimator gives them no weight, so support and balance are judged without them
    single_arm_strata: dict[str, dict] = field(default_factory=dict)
    comparable_units: int | None = None
    keep: np.ndarray | None = field(default=None, repr=False, compare=False)  # rows kept for estimation

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "keep"}


def _weighted_moments(W: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.average(W, axis=0, weights=w)
    return mean, np.average((W - mean) ** 2, axis=0, weights=w)


def standardized_differences(W: np.ndarray, t: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(weighted) mean difference over the unweighted pooled SD, per column (Austin 2009)."""
    treated, control = t == 1, t == 0
    pooled = np.sqrt((W[treated].var(axis=0) + W[control].var(axis=0)) / 2.0)
    w = np.ones(len(t)) if weights is None else weights
    mean1 = np.average(W[treated], axis=0, weights=w[treated])
    mean0 = np.average(W[control], axis=0, weights=w[control])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pooled > 0, (mean1 - mean0) / pooled, 0.0)


def variance_ratios(W: np.ndarray, t: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(weighted) variance of the treated over that of the controls, per column (Austin 2009; 1 is ideal)."""
    w = np.ones(len(t)) if weights is None else weights
    _, var1 = _weighted_moments(W[t == 1], w[t == 1])
    _, var0 = _weighted_moments(W[t == 0], w[t == 0])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(var0 > 0, var1 / var0, np.where(var1 > 0, np.inf, 1.0))


def effective_sample_size(w: np.ndarray) -> float:
    """Kish's effective sample size (sum w)^2 / sum w^2."""
    return float(w.sum() ** 2 / (w**2).sum()) if w.size else 0.0


def fit_propensity(W: np.ndarray, t: np.ndarray, model: str = "logistic", seed: int = 0) -> np.ndarray:
    """Propensity scores: the estimators' logistic model, or LightGBM predicted out of fold (2 folds,
    one thread) so the diagnostics do not judge a boosted model on the rows it memorised."""
    if model == "logistic":
        return propensity_scores(W, t)[0]
    from lightgbm import LGBMClassifier
    from sklearn.model_selection import StratifiedKFold

    scores = np.empty(len(t))
    folds = StratifiedKFold(n_splits=2, shuffle=True, random_state=seed)
    for fit_rows, predict_rows in folds.split(W, t):
        booster = LGBMClassifier(n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=50,
                                 n_jobs=1, random_state=seed, verbose=-1)
        booster.fit(W[fit_rows], t[fit_rows])
        scores[predict_rows] = booster.predict_proba(W[predict_rows])[:, 1]
    return np.clip(scores, 1e-6, 1 - 1e-6)


def calibration_table(e: np.ndarray, t: np.ndarray, bins: int = 10) -> dict:
    """Mean predicted vs observed treatment share in quantile bins of the propensity, the Brier score
    and the expected calibration error (bin-size weighted mean |predicted - observed|)."""
    edges = np.unique(np.quantile(e, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, max(len(edges) - 2, 0))
    rows = []
    for b in np.unique(which):
        members = which == b
        rows.append({"n": int(members.sum()), "predicted": float(e[members].mean()),
                     "observed": float(t[members].mean())})
    ece = sum(r["n"] * abs(r["predicted"] - r["observed"]) for r in rows) / len(t)
    return {"bins": rows, "brier": float(np.mean((e - t) ** 2)), "ece": float(ece)}


def crump_alpha(e: np.ndarray) -> float:
    """Crump, Hotz, Imbens & Mitnik (2009) optimal trimming bound: keep alpha <= e <= 1 - alpha, where
    no trimming is needed if max g <= 2 E[g] (g = 1/(e(1-e))), else gamma solves gamma = 2 E[g | g <= gamma]
    and alpha = 1/2 - sqrt(1/4 - 1/gamma)."""
    g = np.sort(1.0 / (e * (1.0 - e)))
    if g[-1] <= 2.0 * g.mean():
        return 0.0
    twice_mean = 2.0 * np.cumsum(g) / np.arange(1, g.size + 1)
    following = np.append(g[1:], np.inf)
    # Between consecutive g's the conditional mean is constant, so the root is 2 * that mean.
    roots = np.flatnonzero((g <= twice_mean) & (twice_mean < following))
    gamma = float(twice_mean[roots[0]]) if roots.size else float(g[-1])
    return 0.5 - math.sqrt(max(0.25 - 1.0 / gamma, 0.0))


def trim_mask(e: np.ndarray, trim) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Rows kept by the rule ('none', 'crump' or (low, high)) and the bounds it used."""
    if trim == "none":
        return np.ones(e.size, dtype=bool), None
    if trim == "crump":
        alpha = crump_alpha(e)
        low, high = alpha, 1.0 - alpha
    else:
        low, high = trim
    return (e >= low) & (e <= high), (float(low), float(high))


def _named(names: list[str], values: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, values)}


def _support_share(e: np.ndarray, t: np.ndarray, estimand: str) -> float:
    """Share of the units the estimand is about whose propensity lies where the other arm has units:
    the ATT needs a comparable control for every treated unit, not treated units for every control
    (a large, dissimilar control pool, as in LaLonde's PSID sample, is no overlap problem for it)."""
    e1, e0 = e[t == 1], e[t == 0]
    if estimand == "att":
        return float(np.mean((e1 >= e0.min()) & (e1 <= e0.max())))
    if estimand == "atc":
        return float(np.mean((e0 >= e1.min()) & (e0 <= e1.max())))
    low, high = max(e1.min(), e0.min()), min(e1.max(), e0.max())
    return float(np.mean((e >= low) & (e <= high))) if low <= high else 0.0


def single_arm_strata(data: CausalData) -> tuple[np.ndarray, dict[str, dict]]:
    """(rows in levels holding both arms, {column: {"levels", "of_levels", "units"}}) over the
    categorical confounders: with fixed effects, a unit in a treated-only or control-only level is
    absorbed by its level's dummy and carries no weight, which is not a lack of overlap."""
    comparable = np.ones(data.n, dtype=bool)
    found = {}
    for column, labels in data.strata.items():
        levels, inverse = np.unique(labels, return_inverse=True)
        treated = np.bincount(inverse, weights=data.T, minlength=len(levels))
        total = np.bincount(inverse, minlength=len(levels))
        single = (treated == 0) | (treated == total)
        members = single[inverse]
        if members.any():
            found[column] = {"levels": int(single.sum()), "of_levels": int(len(levels)), "units": int(members.sum())}
            comparable &= ~members
    return comparable, found


def check_overlap(data: CausalData, estimand: str = "ate", options: OverlapOptions | None = None, seed: int = 0,
                  bins: int = 40) -> OverlapReport:
    """Propensity, calibration, common support, trimming, ESS, SMD and variance ratios before/after
    weighting; within the levels of categorical confounders that hold both arms."""
    options = options or OverlapOptions()
    t = data.T
    e = fit_propensity(data.covariates, t, options.propensity_model, seed)
    e1, e0 = e[t == 1], e[t == 0]
    low, high = max(e1.min(), e0.min()), min(e1.max(), e0.max())
    comparable, single = single_arm_strata(data)
    if single:  # judged among the units a within-stratum estimator compares
        support = _support_share(e[comparable], t[comparable], estimand)
    else:
        support = _support_share(e, t, estimand)
    keep, bounds = trim_mask(e, options.trim)
    judged = keep & comparable if single else keep
    tk, ek, Wk = t[judged], e[judged], data.covariates[judged]
    if min(tk.sum(), (1 - tk).sum()) == 0:
        from whyflow.errors import GateFailed

        raise GateFailed(f"overlap gate failed: trimming {options.trim!r} leaves no treated or no control units")
    weights = estimand_weights(tk, ek, estimand)
    before, after = standardized_differences(data.covariates, t), standardized_differences(Wk, tk, weights)
    edges = np.linspace(0.0, 1.0, bins + 1)
    report = OverlapReport(
        common_support=support,
        support=(float(low), float(high)),
        propensity_treated=(float(e1.min()), float(e1.max())),
        propensity_control=(float(e0.min()), float(e0.max())),
        smd_before=_named(data.covariate_names, before),
        smd_after=_named(data.covariate_names, after),
        max_smd_before=float(np.max(np.abs(before))) if before.size else 0.0,
        max_smd_after=float(np.max(np.abs(after))) if after.size else 0.0,
        effective_sample_size={"treated": effective_sample_size(weights[tk == 1]),
                               "control": effective_sample_size(weights[tk == 0])},
        histogram={"edges": edges.tolist(), "treated": np.histogram(e1, edges)[0].tolist(),
                   "control": np.histogram(e0, edges)[0].tolist()},
        variance_ratio_before=_named(data.covariate_names, variance_ratios(data.covariates, t)),
        variance_ratio_after=_named(data.covariate_names, variance_ratios(Wk, tk, weights)),
        propensity_model=options.propensity_model,
        calibration=calibration_table(e, t),
        trim="fixed" if isinstance(options.trim, tuple) else options.trim,
        trim_bounds=bounds,
        trimmed_units=int((~keep).sum()),
        analysed_units=int(keep.sum()),
        single_arm_strata=single,
        comparable_units=int(comparable.sum()) if single else None,
        keep=keep,
    )
    log.info("overlap: common support %.3f, max |SMD| %.3f -> %.3f, trimmed %d units",
             support, report.max_smd_before, report.max_smd_after, report.trimmed_units)
    return report


def overlap_failures(report: OverlapReport, gates: Gates) -> list[tuple[str, str]]:
    """(gate, what was seen) for each overlap gate the report violates."""
    failures = []
    if report.common_support < gates.min_common_support:
        failures.append(("min_common_support", f"common support is {report.common_support:.3f}"))
    if report.max_smd_after > gates.max_smd_after_weighting:
        worst = max(report.smd_after, key=lambda k: abs(report.smd_after[k]))
        failures.append(("max_smd_after_weighting", f"max |SMD| after weighting is {report.max_smd_after:.3f} ({worst})"))
    return failures


def overlap_remedy(data: CausalData, estimand: str, options: OverlapOptions, seed: int) -> str:
    """What would restore overlap, computed: Crump trimming's share kept and balance, when not trimmed yet."""
    if options.trim != "none":
        return ("the sample is already trimmed; the estimate leans on extrapolation: narrow the population "
                "(estimand: att) or check the propensity model")
    trimmed = check_overlap(data, estimand, options.model_copy(update={"trim": "crump"}), seed)
    kept = trimmed.analysed_units / max(data.n, 1)
    return (f"overlap.trim: crump keeps {kept:.0%} of units and brings max |SMD| to {trimmed.max_smd_after:.2f} "
            f"(common support {trimmed.common_support:.2f})")


def judge_overlap(report: OverlapReport, data: CausalData, spec) -> tuple[list[str], list[str]]:
    """(messages that stop the run, warnings): a gate the spec declared stops; a default one warns,
    with its remedy computed."""
    from tasks.data.quality import gate_message

    stops, warned, remedy = [], [], None
    for gate, observed in overlap_failures(report, spec.gates):
        stop, message = gate_message(spec, gate, observed)
        if stop:
            stops.append(message)
            continue
        remedy = remedy or overlap_remedy(data, spec.estimand, spec.overlap, spec.seed)
        warned.append(f"{message}; remedy: {remedy}")
    return stops, warned
