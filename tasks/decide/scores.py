"""Cross-fitted doubly robust scores: the per-unit effect signal every decision statistic rests on.

Gamma_i = mu1 - mu0 + T (Y - mu1) / e - (1 - T)(Y - mu0) / (1 - e), with mu0, mu1 and e fitted on
K-1 folds and predicted on the held-out fold (Chernozhukov et al. 2018; the AIPW estimator's
nuisances, estimators/aipw.py, and the score, estimators/scores.py, are reused). Its mean is the AIPW ATE; E[Gamma | X] is the CATE, so
the scores value any targeting rule and validate any CATE model without trusting that model.
The propensity is clipped to [clip, 1 - clip] (default 0.01) so a few near-deterministic units do
not dominate the scores; how many were clipped is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from estimators.aipw import cross_fit_nuisances
from estimators.base import CausalData
from estimators.nuisance import OUTCOME_MODELS, PROPENSITY_MODELS
from estimators.scores import dr_terms

__all__ = ["DRScores", "doubly_robust_scores", "nuisance_covariates", "fold_ids", "NUISANCE_KINDS"]

# the nuisance presets this step offers: one name for both models, as in the spec's `nuisance`
NUISANCE_KINDS = {"linear": ("linear", "logistic"), "lightgbm": ("lightgbm", "lightgbm")}


@dataclass(frozen=True)
class DRScores:
    """Per-unit doubly robust scores and the out-of-fold nuisances they came from."""

    gamma: np.ndarray
    mu0: np.ndarray
    mu1: np.ndarray
    propensity: np.ndarray
    y: np.ndarray
    t: np.ndarray
    folds: int
    clip: float
    clipped_units: int
    nuisance: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.gamma.size)

    @property
    def ate(self) -> float:
        return float(self.gamma.mean())

    @property
    def ate_std_error(self) -> float:
        return float(self.gamma.std(ddof=1) / np.sqrt(self.n))

    @property
    def outcome_mean(self) -> np.ndarray:
        """m(x) = E[Y | x] = e mu1 + (1 - e) mu0, the R-learner's outcome nuisance."""
        return self.propensity * self.mu1 + (1 - self.propensity) * self.mu0

    @classmethod
    def from_arrays(cls, y, t, mu0, mu1, propensity, *, clip: float = 0.01) -> DRScores:
        """Scores from nuisances computed elsewhere (they must be out-of-fold for the guarantees)."""
        y, t = np.asarray(y, dtype=float), np.asarray(t, dtype=float)
        mu0, mu1, e = (np.asarray(a, dtype=float) for a in (mu0, mu1, propensity))
        clipped = int(((e < clip) | (e > 1 - clip)).sum())
        e = np.clip(e, clip, 1 - clip)
        gamma, _ = dr_terms(y, t, mu0, mu1, e, "ate")
        return cls(gamma=gamma, mu0=mu0, mu1=mu1, propensity=e, y=y, t=t, folds=0, clip=clip,
                   clipped_units=clipped, nuisance={"outcome": "given", "propensity": "given"})

    def to_json(self) -> dict:
        return {"n": self.n, "ate": self.ate, "ate_std_error": self.ate_std_error, "folds": self.folds,
                "clip": self.clip, "clipped_units": self.clipped_units, "nuisance": dict(self.nuisance)}


def nuisance_covariates(data: CausalData) -> CausalData:
    """A CausalData whose adjustment set is every covariate and every effect modifier, each once.

    The nuisances must see both (a modifier that drives the outcome confounds the score otherwise);
    built through `from_frame` with no modifiers, so every view of it (covariates, W) is that set."""
    names, matrix = list(data.covariate_names), data.covariates
    extra = [i for i, name in enumerate(data.x_names) if name not in set(names)]
    if extra:
        matrix = np.hstack([matrix, data.X[:, extra]])
        names += [data.x_names[i] for i in extra]
    columns = [f"c{i}" for i in range(matrix.shape[1])]
    frame = pd.DataFrame(matrix, columns=columns).assign(__y=data.Y, __t=data.T)
    return CausalData.from_frame(frame, treatment="__t", outcome="__y", adjustment=columns)


def fold_ids(n: int, folds: int, seed: int) -> np.ndarray:
    """Balanced random fold labels 0..folds-1, seeded."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    return rng.permutation(np.arange(n) % folds)


def doubly_robust_scores(data: CausalData, *, folds: int = 5, seed: int = 0,
                         nuisance: str | tuple[str, str] = "linear", clip: float = 0.01) -> DRScores:
    """Cross-fitted DR scores for a binary treatment. nuisance: 'linear' (OLS + logistic), 'lightgbm'
    (one thread), or an (outcome, propensity) pair of estimators/nuisance.py kinds, as the spec chose."""
    if data.treatment_type != "binary" or not np.isin(data.T, (0.0, 1.0)).all():
        raise ValueError(f"`treatment` must be binary (0/1) for decision scores; got values "
                         f"{sorted(set(np.unique(data.T).tolist()))[:5]}")
    if isinstance(nuisance, tuple) and len(nuisance) == 2:
        outcome, propensity = nuisance
        if outcome not in OUTCOME_MODELS or propensity not in PROPENSITY_MODELS:
            raise ValueError(f"`nuisance` must pair an outcome model ({', '.join(OUTCOME_MODELS)}) with a propensity "
                             f"model ({', '.join(PROPENSITY_MODELS)}); got {nuisance!r}")
    elif nuisance in NUISANCE_KINDS:
        outcome, propensity = NUISANCE_KINDS[nuisance]
    else:
        raise ValueError(f"`nuisance` must be one of {', '.join(NUISANCE_KINDS)} or an (outcome, propensity) pair; "
                         f"got {nuisance!r}")
    if not (isinstance(folds, int) and 2 <= folds <= 20):
        raise ValueError(f"`folds` must be an integer in [2, 20]; got {folds!r}")
    if not 0.0 < clip < 0.5:
        raise ValueError(f"`clip` must be in (0, 0.5); got {clip!r}")
    full = nuisance_covariates(data)
    mu0, mu1, e = cross_fit_nuisances(full, cv=folds, seed=seed, outcome=outcome, propensity=propensity)
    scores = DRScores.from_arrays(data.Y, data.T, mu0, mu1, e, clip=clip)
    return DRScores(**{**scores.__dict__, "folds": folds,
                       "nuisance": {"outcome": outcome, "propensity": propensity}})
