"""What EconML's S-, T- and X-learners share here: fitting on every covariate, and a seeded bootstrap.

EconML's meta-learners take no W, so X is the whole adjustment set (effect modifiers included):
leaving a confounder out of X would leave it unadjusted. They have no analytic inference, so the
standard errors come from a seeded nonparametric (pairs) bootstrap: B resamples of the rows, each
refitted, each predicting the CATE of the original rows, so the ATE/ATT/ATC and every segment mean
get a bootstrap standard error (X held fixed, like EconML's `ate_inference`). B defaults to 50: the
standard error is then itself uncertain by about +-10% (1/sqrt(2B)). `bootstrap: 0` skips it (no CI).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from estimators.base import CausalData, Estimator, Fit
from estimators.options import EstimatorOptions, OutcomeModel, integer, not_one
from estimators.econml_common import estimand_rows, quiet

__all__ = ["BootstrappedMetaLearner", "DEFAULT_BOOTSTRAP"]

DEFAULT_BOOTSTRAP = 50


class BootstrappedMetaLearner(Estimator):
    """Subclasses build the EconML learner in `_learner(seed)` from their options."""

    family = "meta-learner (EconML)"
    gives_cate = True

    class Options(EstimatorOptions):
        bootstrap: Annotated[int, integer(0, 10_000), not_one()] = Field(
            DEFAULT_BOOTSTRAP, description="bootstrap replications for the standard errors (0: no CI)")
        outcome_model: OutcomeModel = "linear"

    def _learner(self, seed: int) -> Any:
        raise NotImplementedError

    def _cate(self, y: np.ndarray, t: np.ndarray, X: np.ndarray, X_all: np.ndarray, seed: int) -> np.ndarray:
        learner = self._learner(seed)
        with quiet():
            learner.fit(y, t, X=X)
            self.last_learner_ = learner
            return np.ravel(learner.effect(X_all))

    def features(self, data: CausalData) -> np.ndarray:
        return data.covariates if data.covariates.shape[1] else np.zeros((data.n, 1))

    def effect(self, X: np.ndarray) -> np.ndarray:
        with quiet():
            return np.ravel(self.learner_.effect(X))

    def _fit(self, data: CausalData) -> Fit:
        X = self.features(data)
        t = data.T.astype(int)
        rows = estimand_rows(data, self.estimand)
        seeds = np.random.SeedSequence(self.seed).generate_state(2)
        cate = self._cate(data.Y, t, X, X, int(seeds[0]))
        self.learner_ = self.last_learner_  # the point fit; the bootstrap refits below do not replace it
        value = float(cate[rows].mean())
        replications = self.options.bootstrap
        self.boot_ = None
        se = math.nan
        if replications:
            rng = np.random.default_rng(np.random.SeedSequence(int(seeds[1])))
            boot = np.empty((replications, data.n), dtype=np.float32)
            for b in range(replications):
                draw = rng.integers(0, data.n, data.n)
                boot[b] = self._cate(data.Y[draw], t[draw], X[draw], X, int(rng.integers(2**31 - 1)))
            self.boot_ = boot
            se = float(boot[:, rows].mean(axis=1, dtype=np.float64).std(ddof=1))
        nuisance = {"outcome": self.options.outcome_model,
                     "propensity": getattr(self.options, "propensity_model", None)}  # only the X-learner has one
        return Fit(value=value, std_error=se, cate=cate,
                method=f"{self.summary}; bootstrap standard errors, B = {replications}",
                details={"bootstrap": replications, "nuisance": nuisance,
                            "features": list(data.covariate_names)})

    def segment_effect(self, rows: np.ndarray, cate: np.ndarray) -> tuple[float, float]:
        value = float(cate[rows].mean())
        if getattr(self, "boot_", None) is None:
            return value, math.nan
        return value, float(self.boot_[:, rows].mean(axis=1, dtype=np.float64).std(ddof=1))
