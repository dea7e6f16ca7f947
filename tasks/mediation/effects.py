"""Effects with influence-function standard errors, and the NDE / NIE / total decomposition."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["Effect", "Decomposition", "effect_from_influence", "Z_95"]

Z_95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Effect:
    """A point estimate with its standard error and 95% Wald interval."""

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float

    def to_json(self) -> dict:
        return {"estimate": self.estimate, "ci_low": self.ci_low, "ci_high": self.ci_high}


def effect_from_influence(estimate: float, influence: np.ndarray) -> Effect:
    """SE = sqrt(sum IF_i^2) / n for an estimator with estimate - truth ~ mean(IF_i)."""
    influence = np.asarray(influence, dtype=float)
    se = float(np.sqrt(np.sum(influence ** 2)) / len(influence))
    return Effect(float(estimate), se, float(estimate - Z_95 * se), float(estimate + Z_95 * se))


@dataclass(frozen=True)
class Decomposition:
    """Natural (or interventional) direct and indirect effects of T = 1 vs T = 0 and their sum.

    `nde` holds the mediators at their level under control, `nie` moves them to their level under
    treatment with T = 1 (VanderWeele 2015, "pure" direct and "total" indirect effects), so
    nde + nie = total exactly. The influence functions are kept so that differences of
    decompositions on the same rows (path-specific effects) get standard errors too.
    """

    nde: Effect
    nie: Effect
    total: Effect
    influence: dict[str, np.ndarray]

    @classmethod
    def from_influence(cls, estimates: dict[str, float], influence: dict[str, np.ndarray]) -> "Decomposition":
        return cls(*(effect_from_influence(estimates[k], influence[k]) for k in ("nde", "nie", "total")),
                   influence=influence)

    def to_json(self) -> dict:
        return {"nde": self.nde.to_json(), "nie": self.nie.to_json(), "total": self.total.to_json()}
