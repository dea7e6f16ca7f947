"""What the EconML adapters share: the X/W split, the estimand's rows, quiet fits, linear CATE terms.

EconML's ATE interval helpers (`ate_interval`) average per-unit intervals, which is not an interval
for the ATE (shared/measurements: +-0.54 against +-0.08 from the ATE inference); the adapters use
`ate_inference` / `ate__inference` and never those helpers.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from typing import Iterator

import numpy as np

from estimators.base import CausalData, NotApplicable

__all__ = ["LinearCateInference", "split_xw", "estimand_rows", "quiet", "linear_importance", "mean_inference", "refuse_without_x_for_subgroups"]


def split_xw(data: CausalData, *, x_required: bool = False) -> tuple[np.ndarray | None, np.ndarray | None, list[str]]:
    """X (the effect modifiers) and W (the controls), as EconML wants them (None when empty).

    Without declared modifiers an estimator that needs X (a causal forest) looks for heterogeneity
    over every adjustment column instead; the adjustment is the same either way."""
    if data.X.shape[1] == 0 and x_required:
        covariates = data.covariates
        return (covariates if covariates.shape[1] else np.zeros((data.n, 1))), None, list(data.covariate_names) or ["constant"]
    W = data.W if data.W.shape[1] else None
    X = data.X if data.X.shape[1] else None
    return X, W, list(data.x_names)


def estimand_rows(data: CausalData, estimand: str) -> np.ndarray:
    """All rows for the ATE, the treated for the ATT, the controls for the ATC."""
    if estimand == "ate":
        return np.ones(data.n, dtype=bool)
    return data.T == (1.0 if estimand == "att" else 0.0)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """EconML's co-linearity, 'no X' and convergence notes: nothing a whyflow user can act on."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def mean_inference(model, X: np.ndarray | None, rows: np.ndarray) -> tuple[float, float]:
    """Mean CATE over rows and its standard error from EconML's `ate_inference` (X held fixed)."""
    with quiet():
        inference = model.ate_inference(X=None if X is None else X[rows])
    return float(np.ravel(inference.mean_point)[0]), float(np.ravel(inference.stderr_mean)[0])


def linear_importance(model, names: list[str]) -> dict:
    """A linear CATE model's terms: intercept and one coefficient per effect modifier."""
    with quiet():
        # the DR learners expose coef_/intercept_ as methods of the treatment level
        coef = model.coef_(T=1) if callable(model.coef_) else model.coef_
        intercept = model.intercept_(T=1) if callable(model.intercept_) else model.intercept_
        coef, intercept = (np.ravel(coef) if names else np.array([])), float(np.ravel(intercept)[0])
    return {"kind": "linear CATE coefficients (effect change per unit of each modifier)",
            "intercept": intercept, "values": {n: float(c) for n, c in zip(names, coef)}}


def refuse_without_x_for_subgroups(data: CausalData, estimand: str, name: str) -> None:
    """A constant-effect model has no ATT/ATC of its own; say so instead of relabelling the ATE."""
    if estimand != "ate" and data.X.shape[1] == 0:
        raise NotApplicable(f"{name} targets the {estimand.upper()} by averaging its CATE model over the "
                            f"{'treated' if estimand == 'att' else 'control'} units; declare effect_modifiers, "
                            "or use aipw, ipw or ps_matching")


class LinearCateInference:
    """CATE on new rows and segment effects for EconML estimators with a linear final stage, fitted as
    `model_` on modifiers `X_` (None: a constant effect, whose error is `ate_se_`)."""

    def effect(self, X: np.ndarray) -> np.ndarray:
        with quiet():
            if self.X_ is None:  # a constant effect
                return np.full(len(X), float(np.ravel(self.model_.effect(None))[0]))
            return np.ravel(self.model_.effect(X))

    def segment_effect(self, rows: np.ndarray, cate: np.ndarray) -> tuple[float, float]:
        if self.X_ is None:  # every segment carries the ATE and its error
            return float(cate[rows].mean()), getattr(self, "ate_se_", math.nan)
        return mean_inference(self.model_, self.X_, rows)
