"""Simulated campaigns with a known CATE and cost, for validating the decision layer (tasks/decide).

`graded_effect_campaign`: the effect grows with a continuous covariate x1, tau(x) = 1 + slope x1,
with x1 also confounding treatment and outcome; at the default cost 1.5 the best rule treats
x1 > 0.25 (40% of units) and gains E[(tau - cost)+] = 0.573 per unit, while treating everyone loses
0.5 per unit. `slope=0` gives a constant effect of 1 (no rule beats the better baseline).
`true_value(rule, ...)` is a rule's net gain per unit on a large fresh population.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from estimators.base import CausalData

__all__ = ["DecisionCase", "graded_effect_campaign", "true_effect", "true_value", "oracle_value", "fresh_population",
           "FEATURES", "DEFAULT_COST"]

FEATURES = ["x1", "x2", "x3", "x4", "x5"]
DEFAULT_COST = 1.5


@dataclass(frozen=True)
class DecisionCase:
    """One simulated sample: the frame, its CausalData, each row's true CATE and the cost."""

    frame: pd.DataFrame
    data: CausalData
    tau: np.ndarray
    cost: float
    slope: float


def true_effect(frame: pd.DataFrame, slope: float) -> np.ndarray:
    return 1.0 + slope * frame["x1"].to_numpy()


def _covariates(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    return pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)


def graded_effect_campaign(rows: int = 4000, seed: int = 0, *, slope: float = 2.0, cost: float = DEFAULT_COST,
                           noise: float = 2.0) -> DecisionCase:
    """Confounded binary treatment (propensity 0.2-0.8 mostly), outcome linear in x, effect 1 + slope x1."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    frame = _covariates(rng, rows)
    x1, x2, x3 = (frame[c].to_numpy() for c in ("x1", "x2", "x3"))
    propensity = 1.0 / (1.0 + np.exp(-(0.3 * x1 + 0.6 * x2 - 0.4 * x3)))
    t = rng.binomial(1, propensity)
    tau = true_effect(frame, slope)
    frame["t"] = t
    frame["y"] = 0.5 * x1 + 0.8 * x2 + 0.5 * x3 + tau * t + rng.normal(0.0, noise, rows)
    data = CausalData.from_frame(frame, treatment="t", outcome="y", adjustment=FEATURES, modifiers=FEATURES)
    return DecisionCase(frame, data, tau, cost, slope)


def fresh_population(rows: int = 200_000, seed: int = 12345) -> pd.DataFrame:
    """Covariates of new units from the same distribution, to score a rule's true gain."""
    return _covariates(np.random.default_rng(np.random.SeedSequence(seed)), rows)


def true_value(rule: Callable[[pd.DataFrame], np.ndarray], *, slope: float, cost: float, rows: int = 200_000,
               seed: int = 12345) -> float:
    """Net gain per unit over treating no one, E[(tau(x) - cost) rule(x)], on a fresh population."""
    population = fresh_population(rows, seed)
    treat = np.asarray(rule(population), dtype=bool)
    return float(((true_effect(population, slope) - cost) * treat).mean())


def oracle_value(*, slope: float, cost: float, rows: int = 200_000, seed: int = 12345) -> float:
    """The best possible rule's value: treat exactly when tau(x) > cost."""
    return true_value(lambda f: true_effect(f, slope) > cost, slope=slope, cost=cost, rows=rows, seed=seed)
