"""Nuisance models chosen in the spec: outcome (linear, lightgbm, random_forest) and propensity
(logistic, lightgbm, random_forest).

Linear/logistic are the defaults: fast, deterministic, and their DML/DR intervals covered the truth
here, while EconML's 'auto' model selection took 54 s at 1e4 rows and default LightGBM nuisances
gave LinearDML CIs about 3 SE off (shared/measurements). Every learner runs on one thread: at 1e5
rows a 100-tree LGBMClassifier took 1.4 s with n_jobs=1 and 63.5 s with its default threads here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from estimators.propensity import LogisticIRLS

__all__ = ["OUTCOME_MODELS", "PROPENSITY_MODELS", "outcome_model", "propensity_model", "treatment_model"]

OUTCOME_MODELS = ("linear", "lightgbm", "random_forest")
PROPENSITY_MODELS = ("logistic", "lightgbm", "random_forest")

# Modest, fixed settings: enough trees to fit smooth confounding, few enough to stay near a
# second per fit at 1e5 rows on one core; min leaf sizes keep the forests from interpolating.
_LGBM = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 50,
         "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 1.0, "n_jobs": 1, "verbose": -1}
_FOREST = {"n_estimators": 100, "min_samples_leaf": 50, "max_features": 0.5, "max_samples": 0.5, "n_jobs": 1}


def _seed(seed: int) -> int:
    return int(np.random.SeedSequence(seed).generate_state(1)[0] % (2**31 - 1))


def outcome_model(kind: str = "linear", seed: int = 0) -> Any:
    """An unfitted regressor for E[Y | covariates]."""
    if kind == "linear":
        from sklearn.linear_model import LinearRegression

        return LinearRegression()
    if kind == "lightgbm":
        from lightgbm import LGBMRegressor

        return LGBMRegressor(random_state=_seed(seed), **_LGBM)
    if kind == "random_forest":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(random_state=_seed(seed), **_FOREST)
    raise ValueError(f"`outcome_model` must be one of {', '.join(OUTCOME_MODELS)}; got {kind!r}")


def propensity_model(kind: str = "logistic", seed: int = 0) -> Any:
    """An unfitted classifier for P(T = 1 | covariates)."""
    if kind == "logistic":
        return LogisticIRLS()
    if kind == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(random_state=_seed(seed), **_LGBM)
    if kind == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(random_state=_seed(seed), **_FOREST)
    raise ValueError(f"`propensity_model` must be one of {', '.join(PROPENSITY_MODELS)}; got {kind!r}")


def treatment_model(kind: str, seed: int, binary: bool) -> Any:
    """The propensity model for a binary treatment; for a continuous one, the regressor of the same family."""
    if binary:
        return propensity_model(kind, seed)
    return outcome_model("linear" if kind == "logistic" else kind, seed)
