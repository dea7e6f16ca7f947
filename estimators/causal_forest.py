"""EconML CausalForestDML: a generalised random forest (Athey, Tibshirani & Wager 2019) on DML residuals.

Honest trees (half the sample places the splits, the other half the leaf values) give pointwise
CATE intervals; the average effects come from EconML's doubly robust `ate__inference` /
`att__inference` (out-of-bag forest CATE plus an AIPW correction on the cross-fitted residuals), not
from averaging per-unit intervals. A segment's effect is the mean of the same doubly robust scores
over its rows, with their standard deviation over sqrt(n) as its error.
Heterogeneity is searched over the effect modifiers, or over every adjustment column when none are
declared. Defaults are chosen for speed on one core: 100 trees, linear/logistic nuisances, cv=2.
"""

from __future__ import annotations

from typing import Annotated

import math

import numpy as np
from pydantic import Field, model_validator

from estimators.base import CausalData, Estimator, Fit
from estimators.options import NuisanceOptions, integer, number, flag, multiple_of
from estimators.econml_common import quiet, split_xw
from estimators.nuisance import outcome_model, propensity_model
from estimators.registry import register

__all__ = ["CausalForest"]

_SUBFOREST = 4  # EconML's subforest_size: n_estimators must be a multiple of it for inference


@register
class CausalForest(Estimator):
    name = "causal_forest"
    family = "double machine learning (EconML)"
    summary = "EconML CausalForestDML (honest GRF), doubly robust ATE/ATT/ATC inference"
    gives_cate = True

    class Options(NuisanceOptions):
        n_estimators: Annotated[int, integer(_SUBFOREST), multiple_of(_SUBFOREST)] = Field(
            100, description=f"trees, a multiple of {_SUBFOREST}")
        min_samples_leaf: Annotated[int, integer(1)] = Field(5, description="minimum units per leaf")
        max_depth: Annotated[int | None, integer(1, allow_none=True)] = Field(None, description="maximum tree depth, or null for none")
        min_var_fraction_leaf: Annotated[float | None, number(0.0, 1.0, open_high=False, allow_none=True)] = Field(
            None, description="each leaf keeps at least this fraction of Var(T residual), in (0, 1] or null "
                              "(EconML's form of the tree's min_var_leaf)")
        min_var_leaf: Annotated[float | None, number(0.0, 1.0, open_high=False, allow_none=True)] = Field(
            None, description="alias of min_var_fraction_leaf")
        min_balancedness_tol: Annotated[float, number(0.0, 0.5, open_low=False, open_high=False)] = Field(
            0.45, description="how unbalanced a split may be, in [0, 0.5]")
        honest: Annotated[bool, flag()] = Field(True, description="honest trees")
        max_samples: Annotated[float, number(0.0, 0.5, open_high=False)] = Field(
            0.45, description="fraction of units each tree sees, in (0, 0.5] (EconML's bound for inference)")
        cv: Annotated[int, integer(2, 20)] = Field(2, description="cross-fitting folds for the nuisances")

        @model_validator(mode="after")
        def _one_alias(self):
            if self.min_var_leaf is not None and self.min_var_fraction_leaf is not None:
                raise ValueError("`min_var_leaf` is an alias of `min_var_fraction_leaf`; give one of them")
            return self

    def _settings(self) -> dict:
        o = self.options
        return {"n_estimators": o.n_estimators, "min_samples_leaf": o.min_samples_leaf, "max_depth": o.max_depth,
                "min_var_fraction_leaf": o.min_var_fraction_leaf if o.min_var_fraction_leaf is not None
                else o.min_var_leaf, "min_balancedness_tol": o.min_balancedness_tol, "honest": o.honest,
                "max_samples": o.max_samples, "cv": o.cv}

    def _fit(self, data: CausalData) -> Fit:
        from econml.dml import CausalForestDML

        settings = self._settings()
        outcome, propensity = self.options.outcome_model, self.options.propensity_model
        X, W, names = split_xw(data, x_required=True)
        model = CausalForestDML(model_y=outcome_model(outcome, self.seed), model_t=propensity_model(propensity, self.seed),
                                discrete_treatment=True, drate=True, inference=True, n_jobs=1,
                                random_state=self.seed, **settings)
        t = data.T.astype(int)
        with quiet():
            model.fit(data.Y, t, X=X, W=W, cache_values=True)
            if self.estimand == "ate":
                inference = model.ate__inference()
            else:  # att__inference's T is the treatment level's rank: 1 = treated (ATT), 0 = control (ATC)
                inference = model.att__inference(T=1 if self.estimand == "att" else 0)
            cate = np.ravel(model.effect(X))
            importance = np.ravel(model.feature_importances_)
        self.model_ = model
        self.scores_ = self._dr_scores(model, data.Y, t, X)
        value = float(np.ravel(inference.point_estimate)[0])
        se = float(np.ravel(inference.stderr)[0])
        return Fit(value=value, std_error=se, cate=cate,
                details={"settings": settings, "nuisance": {"outcome": outcome, "propensity": propensity},
                            "cate_importance": {"kind": "forest heterogeneity importance (EconML "
                                                        "feature_importances_, sums to 1)",
                                                "values": {n: float(v) for n, v in zip(names, importance)}}})

    def features(self, data: CausalData) -> np.ndarray:
        return split_xw(data, x_required=True)[0]

    def effect(self, X: np.ndarray) -> np.ndarray:
        with quiet():
            return np.ravel(self.model_.effect(X))

    @staticmethod
    def _dr_scores(model, y: np.ndarray, t: np.ndarray, X: np.ndarray) -> np.ndarray | None:
        """Per-row doubly robust scores: out-of-bag CATE + (Y_res - CATE T_res) T_res / Var(T | X),
        the same scores EconML averages for `ate_` (Var floored at 0.01 as it does)."""
        y_res, t_res, x_cached, _ = model.residuals_
        if x_cached is None or x_cached.shape != X.shape or not np.array_equal(x_cached, X):
            return None  # rows not in input order: no segment inference rather than a wrong one
        y_res, t_res = np.ravel(y_res), np.ravel(t_res)
        oob = np.ravel(model.model_cate.oob_predict(X))
        e = t - t_res
        scores = oob + (y_res - oob * t_res) * t_res / np.clip(e * (1 - e), 1e-2, None)
        return scores

    def segment_effect(self, rows: np.ndarray, cate: np.ndarray) -> tuple[float, float]:
        scores = getattr(self, "scores_", None)
        if scores is None:
            return float(cate[rows].mean()), math.nan
        chosen = scores[rows]
        chosen = chosen[np.isfinite(chosen)]
        if chosen.size < 2:
            return float(cate[rows].mean()), math.nan
        return float(chosen.mean()), float(chosen.std(ddof=1) / np.sqrt(chosen.size))
