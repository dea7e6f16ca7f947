"""`nuisance: auto`: choose the outcome and propensity models by cross-validated loss.

For each nuisance, linear/logistic and LightGBM (one thread) are fitted on the same folds of a seeded
subsample (at most SAMPLE_ROWS rows) and scored out of fold: squared error for the outcome regression
E[Y | T, covariates] (and for a continuous treatment's regression), log loss for the propensity
P(T = 1 | covariates). The rule prefers the simpler model: LightGBM is chosen only when its loss is
lower by more than MIN_GAIN of the linear loss AND by more than Z_RULE standard errors of the paired
per-row loss difference. Linear nuisances are exact and fast when confounding is linear; they leave
the doubly robust and DML estimators biased when it is not (bench/results/estimator-validation*.md),
which a user cannot be expected to know in advance: the data decide, and the losses are recorded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from estimators.base import CausalData
from estimators.nuisance import outcome_model, propensity_model, treatment_model
from whyflow.spec import AnalysisSpec

__all__ = ["NuisanceChoice", "choose_nuisance", "SAMPLE_ROWS", "MIN_GAIN", "Z_RULE", "FOLDS"]

log = logging.getLogger(__name__)
SAMPLE_ROWS = 20_000
MIN_GAIN = 0.02  # LightGBM must cut the loss by more than 2% ...
Z_RULE = 2.0  # ... and by more than 2 standard errors of the paired difference
FOLDS = 3
RULE = (f"LightGBM only when its cross-validated loss is lower than linear/logistic by more than "
        f"{MIN_GAIN:.0%} and by more than {Z_RULE:g} standard errors of the paired difference "
        f"({FOLDS} folds on a seeded subsample of at most {SAMPLE_ROWS:,} rows)")


@dataclass(frozen=True)
class NuisanceChoice:
    outcome: str  # linear | lightgbm | random_forest
    propensity: str  # logistic | lightgbm | random_forest
    source: str  # "auto" (chosen here) or "spec"
    losses: dict = field(default_factory=dict)  # nuisance -> model -> {"loss", "se"}, plus the paired difference
    rule: str = ""
    rows: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


def _folds(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    return rng.permutation(np.arange(n) % FOLDS)


def _out_of_fold(make, X: np.ndarray, y: np.ndarray, folds: np.ndarray, proba: bool) -> np.ndarray:
    predicted = np.empty(len(y))
    for k in range(FOLDS):
        train, test = folds != k, folds == k
        model = make(k).fit(X[train], y[train])
        predicted[test] = model.predict_proba(X[test])[:, 1] if proba else model.predict(X[test])
    return predicted


def _compare(simple: str, X: np.ndarray, y: np.ndarray, folds: np.ndarray, seed: int, *, proba: bool,
             factory) -> tuple[str, dict]:
    """Out-of-fold losses of `simple` and LightGBM; the choice by the rule and the evidence."""
    seeds = np.random.SeedSequence([seed, 11]).generate_state(FOLDS)
    per_row = {}
    for kind in (simple, "lightgbm"):
        predicted = _out_of_fold(lambda k, kind=kind: factory(kind, int(seeds[k])), X, y, folds, proba)
        if proba:
            p = np.clip(predicted, 1e-6, 1 - 1e-6)
            per_row[kind] = -(y * np.log(p) + (1 - y) * np.log(1 - p))
        else:
            per_row[kind] = (y - predicted) ** 2
    difference = per_row[simple] - per_row["lightgbm"]  # > 0: LightGBM is better
    gain, se = float(difference.mean()), float(difference.std(ddof=1) / np.sqrt(len(difference)))
    base = float(per_row[simple].mean())
    chosen = "lightgbm" if gain > MIN_GAIN * base and gain > Z_RULE * se else simple
    evidence = {kind: {"loss": float(v.mean()), "se": float(v.std(ddof=1) / np.sqrt(len(v)))}
                for kind, v in per_row.items()}
    evidence["difference"] = {"mean": gain, "se": se, "relative": gain / base if base > 0 else 0.0}
    evidence["chosen"] = chosen
    return chosen, evidence


def choose_nuisance(data: CausalData, spec: AnalysisSpec) -> NuisanceChoice:
    """The nuisance models every estimator of the run gets; `auto` entries decided by the data."""
    wanted = spec.nuisance
    fixed_outcome = None if wanted.outcome == "auto" else wanted.outcome
    fixed_propensity = None if wanted.propensity == "auto" else wanted.propensity
    if fixed_outcome and fixed_propensity:
        return NuisanceChoice(fixed_outcome, fixed_propensity, "spec", rule="set in the spec")
    started = time.perf_counter()
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 3]))
    rows = np.sort(rng.choice(data.n, size=SAMPLE_ROWS, replace=False)) if data.n > SAMPLE_ROWS else np.arange(data.n)
    W = data.covariates[rows] if data.covariates.shape[1] else np.zeros((len(rows), 1))
    t, y = data.T[rows], data.Y[rows]
    folds = _folds(len(rows), spec.seed)
    binary = data.treatment_type == "binary"
    losses = {}
    outcome = fixed_outcome
    if outcome is None:
        outcome, losses["outcome"] = _compare("linear", np.column_stack([t, W]), y, folds, spec.seed, proba=False,
                                              factory=lambda kind, s: outcome_model(kind, s))
    propensity = fixed_propensity
    if propensity is None:
        if binary and 0 < t.sum() < len(t):
            propensity, losses["propensity"] = _compare(
                "logistic", W, t.astype(int), folds, spec.seed, proba=True,
                factory=lambda kind, s: propensity_model(kind, s))
        elif not binary:
            chosen, losses["propensity"] = _compare("linear", W, t, folds, spec.seed, proba=False,
                                                    factory=lambda kind, s: treatment_model(kind, s, binary=False))
            propensity = "logistic" if chosen == "linear" else chosen
        else:
            propensity = "logistic"
    choice = NuisanceChoice(outcome, propensity, "auto", losses, RULE, int(len(rows)),
                            round(time.perf_counter() - started, 3))
    log.info("nuisance (auto): outcome %s, propensity %s (%s)", outcome, propensity,
             "; ".join(f"{k}: LightGBM cuts the loss by {v['difference']['relative']:.1%}" for k, v in losses.items()))
    return choice
