"""Bias checks on a known truth: plasmode and dummy outcome, over one outcome surface m(W).

Both rebuild the outcome on the analysed covariates and treatment, so the confounding the data carry
is kept (a permuted Y, the old dummy outcome, destroyed it and with it the bias it could reveal):

plasmode       Y* = m(W) + tau* T + e*, e* resampled with replacement from the controls' out-of-fold
               residuals; tau* is the estimator's own estimate (or a value the caller sets). Each
               estimator is re-fitted on S replicates; bias = mean estimate - tau*, with its Monte-Carlo
               SE sd/sqrt(S); coverage of its own 95% CIs, with MC SE sqrt(c(1-c)/S); the mean SE.
               FAIL when |bias| > t(0.975, S-1) MC SE (significant; about 2 MC SE) AND |bias| > 0.5 x
               the mean SE (large enough to matter). Power: see bench/results/bias-checks.md.
dummy_outcome  Y* = m(W) + permuted residuals (each arm's centred, so the treated ones carry no effect):
               the true effect is 0 and the confounding of m(W) is kept; the mean of the dummy
               estimates is tested against 0 with its own SE and the two-part rule.

m is fitted once per refute call, on a seeded sample of at most 20,000 rows (both refuters run on
that sample): E[Y | covariates, T = 0] on the controls (E[Y | covariates] for a continuous treatment),
5-fold cross-fitted, out-of-fold for the rows it was fitted on and the average of the fold models
elsewhere (m itself is the fold models' average everywhere). The model is OLS, plus LightGBM (one thread, seeded) on the OLS residuals when that lowers
the out-of-fold squared error by at least 1%: the linear part extrapolates into the tails where trees
go flat, and the trees are not fitted to pure noise on linear data (a fixed wiggle of m that
correlates with T would bias every replicate alike and raise false alarms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from estimators import registry
from estimators.base import CausalData, Estimate
from estimators.nuisance import outcome_model
from tasks.evidence.refutation import (ALPHA, MATERIAL_SHARE, MIN_SIMULATIONS, SHIFT_RULE, Plan, RefuteContext,
                                       RefuterSpec, Refutation, judged, refutation_of, too_few)
from tasks.evidence.sanity import conclude_shift

__all__ = ["OutcomeSurface", "fit_outcome_surface", "shared_surface", "SIMULATION_ROWS", "SURFACE_FOLDS",
           "SURFACE_GAIN", "PLASMODE_RULE", "BIAS_REFUTERS"]

SIMULATION_ROWS = 20_000
SURFACE_FOLDS = 5
SURFACE_GAIN = 0.01  # LightGBM's residual stage must lower the out-of-fold MSE by 1% to be kept
PLASMODE_RULE = (f"fail when |bias| > t(0.975, S-1) x its Monte-Carlo SE (significant) and |bias| > {MATERIAL_SHARE} "
                 f"x the estimator's mean SE; bias = mean re-estimate - tau* on Y* = m(W) + tau* T + resampled "
                 f"residuals; fewer than {MIN_SIMULATIONS} replicates: inconclusive")


@dataclass(frozen=True)
class OutcomeSurface:
    """m(W) on the simulation sample, and the residuals the simulations draw from."""

    rows: np.ndarray  # positions of the simulation sample in the analysed data
    baseline: np.ndarray  # m(W) on those rows
    control_residuals: np.ndarray  # out-of-fold residuals of the rows m was fitted on
    centred_residuals: np.ndarray  # every row's residual, centred within its arm
    model: str
    losses: dict[str, float]

    def describe(self) -> dict:
        return {"outcome_model": self.model, "out_of_fold_mse": self.losses, "rows": int(self.rows.size)}


def _design(covariates: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((covariates.shape[0], 1)), covariates])


def fit_outcome_surface(data: CausalData, seed: int, max_rows: int = SIMULATION_ROWS) -> OutcomeSurface:
    """Cross-fitted E[Y | covariates, T = 0] on a seeded sample of at most `max_rows` rows."""
    sample_seed, fold_seed, model_seed = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(sample_seed)
    rows = np.arange(data.n) if data.n <= max_rows else np.sort(rng.choice(data.n, max_rows, replace=False))
    W = data.covariates[rows] if data.covariates.shape[1] else np.zeros((rows.size, 1))
    y, t = data.Y[rows], data.T[rows]
    fitted_on = (t == 0) if data.treatment_type == "binary" else np.ones(rows.size, dtype=bool)
    if fitted_on.sum() < 10 * SURFACE_FOLDS:
        raise ValueError(f"the outcome surface needs at least {10 * SURFACE_FOLDS} control rows; "
                         f"got {int(fitted_on.sum())}")
    where = np.flatnonzero(fitted_on)
    fold = np.random.default_rng(fold_seed).permutation(np.arange(where.size) % SURFACE_FOLDS)
    seeds = model_seed.generate_state(SURFACE_FOLDS)
    # out-of-fold predictions judge the model and give honest residuals; the simulations' m(W) is the
    # average of the fold models on every row, one function of W: out-of-fold values on the controls
    # only would differ from the treated rows' by fold noise, a T-correlated artifact OLS reads as bias
    oof = {"linear": np.zeros(rows.size), "linear+lightgbm": np.zeros(rows.size)}
    averaged = {"linear": np.zeros(rows.size), "linear+lightgbm": np.zeros(rows.size)}
    for k in range(SURFACE_FOLDS):
        train, test = where[fold != k], where[fold == k]
        beta = np.linalg.lstsq(_design(W[train]), y[train], rcond=None)[0]
        trees = outcome_model("lightgbm", int(seeds[k])).fit(W[train], y[train] - _design(W[train]) @ beta)
        line = _design(W) @ beta
        curve = line + trees.predict(W)
        for name, values in (("linear", line), ("linear+lightgbm", curve)):
            oof[name][test] = values[test]
            averaged[name] += values / SURFACE_FOLDS
    losses = {name: float(np.mean((y[where] - oof[name][where]) ** 2)) for name in oof}
    model = "linear+lightgbm" if losses["linear+lightgbm"] < (1 - SURFACE_GAIN) * losses["linear"] else "linear"
    baseline = averaged[model]
    residuals = y - oof[model]
    residuals[~fitted_on] = y[~fitted_on] - baseline[~fitted_on]
    centred = residuals.copy()
    for arm in np.unique(t) if data.treatment_type == "binary" else [None]:
        members = (t == arm) if arm is not None else slice(None)
        centred[members] -= centred[members].mean()
    return OutcomeSurface(rows, baseline, residuals[where], centred, model, losses)


def shared_surface(context: RefuteContext) -> tuple[OutcomeSurface, CausalData]:
    """The surface and the simulation sample, fitted once per refute call."""
    if "surface" not in context.cache:
        surface = fit_outcome_surface(context.data, context.seed)
        sample = context.data if surface.rows.size == context.data.n else context.data.subset(surface.rows)
        context.cache["surface"] = (surface, sample)
    return context.cache["surface"]


def _plasmode_plan(data: CausalData, estimate: Estimate, context: RefuteContext) -> Plan | str:
    if registry.get(estimate.estimator).requires:
        return "plasmode simulates a back-door design; this estimator identifies the effect another way"
    if data.treatment_type != "binary":
        return "plasmode needs a binary treatment (it adds tau* to the treated units)"
    surface, sample = shared_surface(context)
    tau = estimate.value if context.plasmode_effect is None else float(context.plasmode_effect)
    return Plan(context=(surface, tau), data=sample)


def _plasmode(data: CausalData, rng: np.random.Generator, index: int, context) -> CausalData:
    surface, tau = context
    noise = surface.control_residuals[rng.integers(0, surface.control_residuals.size, size=data.n)]
    return data.replace(Y=surface.baseline + tau * data.T + noise)


def _plasmode_conclusion(refuter: str, spec: RefuterSpec, estimate: Estimate, fits: np.ndarray, context
                         ) -> Refutation:
    surface, tau = context
    values, ses = fits[:, 0], fits[:, 1]
    count = values.size
    bias = float(values.mean() - tau)
    mc_se = float(values.std(ddof=1) / math.sqrt(count)) if count > 1 else math.nan
    mean_se = float(np.nanmean(ses)) if np.isfinite(ses).any() else math.nan
    covered = (fits[:, 2] <= tau) & (tau <= fits[:, 3])
    coverage = float(covered.mean())
    critical = float(stats.t.ppf(1 - ALPHA / 2, count - 1)) if count > 1 else math.inf
    significant = bool(mc_se == 0 and bias != 0) or (math.isfinite(mc_se) and abs(bias) > critical * mc_se)
    material = not math.isfinite(mean_se) or abs(bias) > MATERIAL_SHARE * mean_se
    p = (float(2 * stats.t.sf(abs(bias) / mc_se, count - 1)) if math.isfinite(mc_se) and mc_se > 0 else None)
    reason = too_few(count)
    verdict, passed = ("inconclusive", None) if reason else judged(significant and material)
    details = {"tau": tau, "bias": bias, "bias_mc_se": mc_se, "bias_in_se": bias / mean_se if mean_se else math.nan,
               "coverage": coverage, "coverage_mc_se": math.sqrt(coverage * (1 - coverage) / count),
               "mean_se": mean_se, "significant": significant, "material": bool(material),
               "critical_t": critical, **surface.describe()}
    if reason:
        details["reason"] = reason
    low, high = (float(q) for q in np.percentile(values, [2.5, 97.5]))
    return refutation_of(refuter, estimate, spec, new_effect=float(values.mean()),
                         new_effect_sd=float(values.std(ddof=1)) if count > 1 else math.nan, p_value=p,
                         passed=passed, verdict=verdict, simulations=count, interval_low=low, interval_high=high,
                         details=details)


def _dummy_plan(data: CausalData, estimate: Estimate, context: RefuteContext) -> Plan:
    surface, sample = shared_surface(context)
    return Plan(context=surface, data=sample)


def _dummy_outcome(data: CausalData, rng: np.random.Generator, index: int, surface: OutcomeSurface) -> CausalData:
    return data.replace(Y=surface.baseline + rng.permutation(surface.centred_residuals))


def _dummy_conclusion(refuter, spec, estimate, fits, surface) -> Refutation:
    result = conclude_shift(refuter, spec, estimate, fits, 0.0, scale=float(np.nanmean(fits[:, 1])))
    return replace(result, details={**result.details, **surface.describe()})


BIAS_REFUTERS: dict[str, RefuterSpec] = {
    "plasmode": RefuterSpec(
        "bias", "detects bias of the estimator on the analysed covariates and treatment with a known effect "
        "(wrong functional form, ignored confounders); cannot detect bias from confounders that are not in the "
        "data, nor confounding m(W) does not capture", PLASMODE_RULE, _plasmode_plan, _plasmode,
        _plasmode_conclusion),
    "dummy_outcome": RefuterSpec(
        "bias", "detects an estimator that finds an effect where the true effect is 0 with the observed "
        "confounding kept; cannot detect confounders that are not in the data",
        SHIFT_RULE.format(reference="0") + " (Y* = m(W) + permuted residuals; SE: the dummy refits' mean SE)",
        _dummy_plan, _dummy_outcome, _dummy_conclusion),
}
