"""Logistic propensity model by Newton-Raphson (IRLS): exact, deterministic, fast on one thread.

A scikit-learn compatible classifier so EconML can use it as model_t; the same model serves the
overlap diagnostics and every propensity-based estimator, so they all see the same scores.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin

__all__ = ["LogisticIRLS", "propensity_scores", "FLEXIBLE_FLOOR"]


def _penalised_loglik(beta: np.ndarray, Z: np.ndarray, t: np.ndarray, weight: np.ndarray, penalty: np.ndarray) -> float:
    eta = Z @ beta
    return float(weight @ (t * eta - np.logaddexp(0.0, eta)) - 0.5 * beta @ penalty @ beta)


class LogisticIRLS(ClassifierMixin, BaseEstimator):
    """Logistic regression with a tiny ridge (keeps separation finite); features standardised."""

    def __init__(self, ridge: float = 1e-6, max_iter: int = 50, tol: float = 1e-10):
        self.ridge = ridge
        self.max_iter = max_iter
        self.tol = tol

    def _z(self, W: np.ndarray) -> np.ndarray:
        scaled = (np.asarray(W, dtype=float)[:, self.keep_] - self.mean_) / self.scale_
        return np.hstack([np.ones((scaled.shape[0], 1)), scaled])

    def fit(self, W, t, sample_weight=None):
        W = np.asarray(W, dtype=float).reshape(len(t), -1)
        t = np.asarray(t, dtype=float).ravel()
        self.classes_ = np.array([0, 1])
        scale = W.std(axis=0)
        self.keep_ = scale > 0
        self.mean_, self.scale_ = W[:, self.keep_].mean(axis=0), scale[self.keep_]
        Z = self._z(W)
        weight = np.ones_like(t) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        penalty = self.ridge * len(t) * np.eye(Z.shape[1])
        penalty[0, 0] = 0.0
        beta = np.zeros(Z.shape[1])
        beta[0] = np.log((t.mean() + 1e-9) / (1 - t.mean() + 1e-9))
        current = _penalised_loglik(beta, Z, t, weight, penalty)
        for self.n_iter_ in range(1, self.max_iter + 1):
            p = expit(Z @ beta)
            gradient = Z.T @ (weight * (t - p)) - penalty @ beta
            hessian = (Z * (weight * p * (1 - p))[:, None]).T @ Z + penalty
            try:
                step = np.linalg.solve(hessian, gradient)
            except np.linalg.LinAlgError:  # near-separation (a treated-only level): the least-norm step
                step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
            # A full Newton step can overshoot far from the optimum (heavy-tailed covariates: LaLonde's
            # CPS earnings sent every propensity to 0); halve it until the likelihood does not fall.
            # Where the full step improves the likelihood, as it does near the optimum, it is taken as is.
            for _ in range(40):
                proposed = _penalised_loglik(beta + step, Z, t, weight, penalty)
                if proposed >= current - 1e-12 * abs(current):
                    break
                step = step / 2
            beta, current = beta + step, proposed
            if np.max(np.abs(step)) < self.tol:
                break
        self.coef_ = beta
        return self

    def design(self, W) -> np.ndarray:
        """The standardised design (with intercept) the coefficients apply to."""
        return self._z(W)

    def predict_proba(self, W) -> np.ndarray:
        p = expit(self._z(W) @ self.coef_)
        return np.column_stack([1 - p, p])

    def predict(self, W) -> np.ndarray:
        return (self.predict_proba(W)[:, 1] >= 0.5).astype(int)


FLEXIBLE_FLOOR = 1e-3  # flexible scores are kept in [0.001, 0.999]: a tree can predict 0 or 1 exactly


def propensity_scores(W: np.ndarray, T: np.ndarray, kind: str = "logistic", seed: int = 0,
                      folds: int = 5) -> tuple[np.ndarray, LogisticIRLS | None]:
    """P(T = 1 | W) for every row, and the logistic model (whose score the IPW sandwich uses). A flexible
    kind (lightgbm, random_forest) is cross-fitted: each row is predicted by a model that did not see it,
    and no model is returned (its estimation is not in the sandwich)."""
    if kind == "logistic":
        model = LogisticIRLS().fit(W, T)
        return model.predict_proba(W)[:, 1], model
    from estimators.nuisance import propensity_model

    W = W if W.shape[1] else np.zeros((len(T), 1))
    fold = np.random.default_rng(np.random.SeedSequence([seed, 5])).permutation(np.arange(len(T)) % folds)
    seeds = np.random.SeedSequence(seed).generate_state(folds)
    e = np.empty(len(T))
    for k in range(folds):
        train, test = fold != k, fold == k
        fitted = propensity_model(kind, int(seeds[k])).fit(W[train], T[train].astype(int))
        e[test] = fitted.predict_proba(W[test])[:, 1]
    return np.clip(e, FLEXIBLE_FLOOR, 1 - FLEXIBLE_FLOOR), None
