"""Out-of-fold CATE predictions for any CATE estimator with `fit(data)` and `effect(X)`.

Each fold's rows get predictions from a model fitted on the other K-1 folds, so validation,
model selection and the policy value judge each unit by a model that never saw it. The registry's
CATE estimators predict with `effect(features(data))`; any class with `fit(data)`, `effect(X)`
(X = CausalData.X unless it has `features`) and the registry constructor (seed, **options) works.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from estimators.base import CausalData, NotApplicable
from tasks.decide.scores import doubly_robust_scores, fold_ids

__all__ = ["cross_fit_cate", "DRLearnerOnScores"]


def _estimator_class(estimator: str | type) -> tuple[str, type]:
    if isinstance(estimator, str):
        from estimators import registry

        try:
            return estimator, registry.get(estimator)
        except KeyError:
            raise ValueError(f"`estimator` must be a registered estimator; got {estimator!r}") from None
    return getattr(estimator, "name", estimator.__name__), estimator


def cross_fit_cate(estimator: str | type, data: CausalData, *, folds: int = 5, seed: int = 0,
                   options: dict[str, Any] | None = None) -> np.ndarray:
    """CATE for every row from the estimator fitted on the other folds (a registry name or a class)."""
    name, cls = _estimator_class(estimator)
    if not (isinstance(folds, int) and 2 <= folds <= 20):
        raise ValueError(f"`folds` must be an integer in [2, 20]; got {folds!r}")
    options = dict(options or {})
    # per-fold bootstrap CIs are never used here; skip them unless the caller insists
    if "bootstrap" in _option_names(cls) and "bootstrap" not in options:
        options["bootstrap"] = 0
    if not hasattr(cls, "effect"):
        raise NotApplicable(f"{name} has no effect(X) to predict the CATE of new rows")
    labels = fold_ids(data.n, folds, seed)
    seeds = np.random.SeedSequence(seed).generate_state(folds)
    cate = np.empty(data.n)
    for k in range(folds):
        held_out = labels == k
        model = cls(seed=int(seeds[k]), **options).fit(data.subset(np.flatnonzero(~held_out)))
        estimate = getattr(model, "estimate_", None)
        if estimate is not None and not estimate.ok:
            raise NotApplicable(f"{name} failed on fold {k}: {estimate.error}")
        rows = data.subset(np.flatnonzero(held_out))
        # `features(data)` is the matrix the estimator's effect() takes (the modifiers X, or every
        # covariate for the meta-learners); a class without it takes X
        matrix = model.features(rows) if hasattr(model, "features") else rows.X
        try:
            cate[held_out] = np.ravel(model.effect(matrix))
        except NotImplementedError as exc:  # the registry's default effect(X): this estimator has none
            raise NotApplicable(str(exc)) from None
    return cate


def _option_names(cls: type) -> set[str]:
    """The options an estimator class accepts (registry: its pydantic Options model)."""
    model = getattr(cls, "Options", None)
    return set(getattr(model, "model_fields", {}) or {})


class DRLearnerOnScores:
    """A small DR-learner: cross-fitted DR scores on the training rows, regressed on X.

    The reference CATE model of the decision tests and bench: final 'linear' (OLS) or 'lightgbm'
    (one thread, shallow). effect(X) takes CausalData.X's columns, as the registry's will."""

    def __init__(self, *, seed: int = 0, final: str = "linear", nuisance: str = "linear", folds: int = 3):
        if final not in ("linear", "lightgbm"):
            raise ValueError(f"`final` must be 'linear' or 'lightgbm'; got {final!r}")
        self.seed, self.final, self.nuisance, self.folds = seed, final, nuisance, folds

    def fit(self, data: CausalData) -> DRLearnerOnScores:
        scores = doubly_robust_scores(data, folds=self.folds, seed=self.seed, nuisance=self.nuisance)
        X = data.X if data.X.shape[1] else np.zeros((data.n, 1))
        if self.final == "linear":
            from sklearn.linear_model import LinearRegression

            self.model_ = LinearRegression().fit(X, scores.gamma)
        else:
            from lightgbm import LGBMRegressor

            self.model_ = LGBMRegressor(n_estimators=100, learning_rate=0.05, num_leaves=7, min_child_samples=100,
                                        n_jobs=1, verbose=-1, random_state=self.seed % (2**31 - 1)
                                        ).fit(X, scores.gamma)
        return self

    def effect(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return self.model_.predict(X if X.shape[1] else np.zeros((X.shape[0], 1)))
