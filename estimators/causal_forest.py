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

import math

import numpy as np

from estimators.base import CausalData, Estimator
from estimators.econml_common import quiet, split_xw
from estimators.nuisance import NUISANCE_OPTIONS, check_nuisance, nuisance_choice, outcome_model, propensity_model
from estimators.option_checks import check_bool, check_float, check_int
from estimators.registry import register

__all__ = ["CausalForest"]

_SUBFOREST = 4  # EconML's subforest_size: n_estimators must be a multiple of it for inference


@register
class CausalForest(Estimator):
    name = "causal_forest"
    family = "double machine learning (EconML)"
    summary = "EconML CausalForestDML (honest GRF), doubly robust ATE/ATT/ATC inference"
    gives_cate = True
    options_doc = {
        "n_estimators": f"trees, a multiple of {_SUBFOREST} (default 100)",
        "min_samples_leaf": "minimum units per leaf (default 5)",
        "max_depth": "maximum tree depth, or null for none (default null)",
        "min_var_fraction_leaf": "each leaf keeps at least this fraction of Var(T residual), in (0, 1] or null "
                                 "(EconML's form of the tree's min_var_leaf; default null)",
        "min_var_leaf": "alias of min_var_fraction_leaf",
        "min_balancedness_tol": "how unbalanced a split may be, in [0, 0.5] (default 0.45)",
        "honest": "honest trees (default true)",
        "max_samples": "fraction of units each tree sees, in (0, 0.5] (EconML's bound for inference; default 0.45)",
        "cv": "cross-fitting folds for the nuisances (default 2)",
        **NUISANCE_OPTIONS,
    }

    @classmethod
    def _check_option_values(cls, options: dict) -> None:
        check_int(options, "n_estimators", _SUBFOREST)
        if "n_estimators" in options and options["n_estimators"] % _SUBFOREST:
            raise ValueError(f"`n_estimators` must be a multiple of {_SUBFOREST}; got {options['n_estimators']!r}")
        check_int(options, "min_samples_leaf", 1)
        if options.get("max_depth") is not None:
            check_int(options, "max_depth", 1)
        if "min_var_leaf" in options and "min_var_fraction_leaf" in options:
            raise ValueError("`min_var_leaf` is an alias of `min_var_fraction_leaf`; give one of them")
        for key in ("min_var_fraction_leaf", "min_var_leaf"):
            check_float(options, key, 0.0, 1.0, allow_none=True, open_high=False)
        check_float(options, "min_balancedness_tol", 0.0, 0.5, open_low=False, open_high=False)
        check_bool(options, "honest")
        check_float(options, "max_samples", 0.0, 0.5, open_high=False)
        check_int(options, "cv", 2, 20)
        check_nuisance(options)

    def _settings(self) -> dict:
        o = self.options
        return {"n_estimators": int(o.get("n_estimators", 100)), "min_samples_leaf": int(o.get("min_samples_leaf", 5)),
                "max_depth": o.get("max_depth"),
                "min_var_fraction_leaf": o.get("min_var_fraction_leaf", o.get("min_var_leaf")),
                "min_balancedness_tol": float(o.get("min_balancedness_tol", 0.45)),
                "honest": bool(o.get("honest", True)), "max_samples": float(o.get("max_samples", 0.45)),
                "cv": int(o.get("cv", 2))}

    def _fit(self, data: CausalData) -> dict:
        from econml.dml import CausalForestDML

        settings = self._settings()
        outcome, propensity = nuisance_choice(self.options)
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
        self.scores_ = self._dr_scores(model, data.Y, t, X)
        value = float(np.ravel(inference.point_estimate)[0])
        se = float(np.ravel(inference.stderr)[0])
        return {"value": value, "std_error": se, "cate": cate,
                "details": {"settings": settings, "nuisance": {"outcome": outcome, "propensity": propensity},
                            "cate_importance": {"kind": "forest heterogeneity importance (EconML "
                                                        "feature_importances_, sums to 1)",
                                                "values": {n: float(v) for n, v in zip(names, importance)}}}}

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
