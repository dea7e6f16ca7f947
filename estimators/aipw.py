"""Augmented inverse-propensity weighting (doubly robust) with cross-fitting.

Outcome regressions per arm and the propensity are fitted on K-1 folds and predicted on the held-out
fold (Chernozhukov et al. 2018, DML2), so flexible nuisances do not overfit the scores. The estimate is
the mean of the efficient influence-function scores and its standard error their standard deviation
over sqrt(n) (Robins, Rotnitzky & Zhao 1994; Hahn 1998 for the ATT/ATC scores). Consistent when either
the outcome models or the propensity is right.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from estimators.base import CausalData, Estimator, Fit, NotApplicable
from estimators.options import NuisanceOptions, bounds_of, integer, propensity_bounds
from estimators.nuisance import outcome_model, propensity_model
from estimators.registry import register
from estimators.scores import dr_scores, unit_influence

__all__ = ["AIPW", "cross_fit_nuisances"]


def _folds(n: int, cv: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    return rng.permutation(np.arange(n) % cv)


def cross_fit_nuisances(data: CausalData, *, cv: int, seed: int, outcome: str, propensity: str
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold mu0(W), mu1(W) and e(W) for every row."""
    n, t = data.n, data.T
    W = data.covariates if data.covariates.shape[1] else np.zeros((n, 1))
    fold = _folds(n, cv, seed)
    mu0, mu1, e = np.empty(n), np.empty(n), np.empty(n)
    seeds = np.random.SeedSequence(seed).generate_state(3 * cv)
    for k in range(cv):
        test, train = fold == k, fold != k
        for arm, target in ((0, mu0), (1, mu1)):
            rows = train & (t == arm)
            if rows.sum() < 2:
                raise NotApplicable(f"aipw needs treated and control units in every training fold; "
                                    f"fold {k} has {int(rows.sum())} with T={arm}")
            model = outcome_model(outcome, int(seeds[3 * k + arm])).fit(W[rows], data.Y[rows])
            target[test] = model.predict(W[test])
        model = propensity_model(propensity, int(seeds[3 * k + 2])).fit(W[train], t[train].astype(int))
        e[test] = model.predict_proba(W[test])[:, 1]
    return mu0, mu1, e


@register
class AIPW(Estimator):
    name = "aipw"
    family = "backdoor doubly robust"
    summary = "augmented IPW (doubly robust), cross-fitted nuisances, influence-function errors"

    class Options(NuisanceOptions):
        cv: Annotated[int, integer(2, 20)] = Field(5, description="cross-fitting folds")
        clip: Annotated[float | tuple[float, float], propensity_bounds(allow_zero=True)] = Field(
            0.01, description="propensity bounds: c for [c, 1 - c], c in [0, 0.5), or [low, high]")

    def _fit(self, data: CausalData) -> Fit:
        cv = self.options.cv
        clip = self.options.clip
        low, high = bounds_of(clip)
        outcome, propensity = self.options.outcome_model, self.options.propensity_model
        mu0, mu1, e = cross_fit_nuisances(data, cv=cv, seed=self.seed, outcome=outcome, propensity=propensity)
        clipped = int(((e < low) | (e > high)).sum())
        e = np.clip(e, max(low, 1e-9), min(high, 1 - 1e-9))
        value, psi = dr_scores(data.Y, data.T, mu0, mu1, e, self.estimand)
        se = float(np.sqrt(np.mean(psi**2) / data.n))
        return Fit(value=value, std_error=se,
                method=f"AIPW, {cv}-fold cross-fitting, {outcome} outcome / {propensity} propensity",
                details={"clipped_units": clipped, "clip": clip, "folds": cv,
                            "nuisance": {"outcome": outcome, "propensity": propensity},
                            "influence": unit_influence(psi, se)})
