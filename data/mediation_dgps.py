"""Simulated mediation data with known natural direct and indirect effects, for tests and the bench.

Every generator returns a `MediationDGP`: the frame, its roles and the true effects of T = 1 vs 0
(NDE with mediators at their control level, NIE at treatment), derived in closed form in each
docstring. Randomness comes from numpy's SeedSequence of the given seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import expit

__all__ = ["MediationDGP", "linear_mediation", "nonlinear_mediation", "sequential_mediation",
           "induced_confounder_mediation", "confounded_mediator"]


@dataclass(frozen=True)
class MediationDGP:
    frame: pd.DataFrame
    treatment: str
    outcome: str
    mediators: list[str]
    confounders: list[str]
    truth: dict[str, float]  # nde, nie, total (and path effects where there are several mediators)
    treatment_induced: list[str] = field(default_factory=list)


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed))


def linear_mediation(rows: int, seed: int = 0, interaction: float = 0.0) -> MediationDGP:
    """X ~ N(0, I3); T ~ Bern(expit(0.5 x1 - 0.5 x2)); M = 0.5 + T + 0.5 x1 + 0.3 x3 + N(0,1);
    Y = 1 + 0.7 T + 0.8 M + interaction T M + 0.5 x1 + 0.5 x2 + N(0,1).
    NDE = 0.7 + interaction E[M(0)] = 0.7 + 0.5 interaction; NIE = (0.8 + interaction) * 1."""
    rng = _rng(seed)
    x = rng.normal(size=(rows, 3))
    t = (rng.random(rows) < expit(0.5 * x[:, 0] - 0.5 * x[:, 1])).astype(float)
    m = 0.5 + t + 0.5 * x[:, 0] + 0.3 * x[:, 2] + rng.normal(size=rows)
    y = 1 + 0.7 * t + 0.8 * m + interaction * t * m + 0.5 * x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=rows)
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "t": t, "m": m, "y": y})
    nde, nie = 0.7 + 0.5 * interaction, 0.8 + interaction
    return MediationDGP(frame, "t", "y", ["m"], ["x1", "x2", "x3"], {"nde": nde, "nie": nie, "total": nde + nie})


def nonlinear_mediation(rows: int, seed: int = 0) -> MediationDGP:
    """Nonlinear confounding that linear nuisances cannot fit. X ~ N(0, I3);
    T ~ Bern(expit(0.8 sin(2 x1) + 0.5 x2^2 - 0.5)); M = T + 0.8 x1^2 + 0.5 |x2| + N(0,1);
    Y = 0.5 T + 0.6 M + 0.4 T M + 1.5 sin(2 x1) + 0.6 x2^2 + 0.5 x3 + N(0,1).
    E[M(0)] = 0.8 + 0.5 sqrt(2/pi); NDE = 0.5 + 0.4 E[M(0)]; NIE = (0.6 + 0.4) * 1 = 1.0."""
    rng = _rng(seed)
    x = rng.normal(size=(rows, 3))
    t = (rng.random(rows) < expit(0.8 * np.sin(2 * x[:, 0]) + 0.5 * x[:, 1] ** 2 - 0.5)).astype(float)
    m = t + 0.8 * x[:, 0] ** 2 + 0.5 * np.abs(x[:, 1]) + rng.normal(size=rows)
    y = (0.5 * t + 0.6 * m + 0.4 * t * m + 1.5 * np.sin(2 * x[:, 0]) + 0.6 * x[:, 1] ** 2 + 0.5 * x[:, 2]
         + rng.normal(size=rows))
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "t": t, "m": m, "y": y})
    nde = 0.5 + 0.4 * (0.8 + 0.5 * np.sqrt(2 / np.pi))
    return MediationDGP(frame, "t", "y", ["m"], ["x1", "x2", "x3"], {"nde": nde, "nie": 1.0, "total": nde + 1.0})


def sequential_mediation(rows: int, seed: int = 0) -> MediationDGP:
    """Two ordered mediators m1 -> m2. X ~ N(0, I2); T ~ Bern(expit(0.5 x1)); M1 = T + 0.5 x1 + N(0,1);
    M2 = 0.5 T + 0.8 M1 + 0.5 x2 + N(0,1); Y = 0.5 T + 0.6 M1 + 0.7 M2 + 0.5 x1 + 0.5 x2 + N(0,1).
    Paths: direct 0.5; via m1 (incl. m1 -> m2) 0.6 + 0.8 * 0.7 = 1.16; via m2 only 0.5 * 0.7 = 0.35."""
    rng = _rng(seed)
    x = rng.normal(size=(rows, 2))
    t = (rng.random(rows) < expit(0.5 * x[:, 0])).astype(float)
    m1 = t + 0.5 * x[:, 0] + rng.normal(size=rows)
    m2 = 0.5 * t + 0.8 * m1 + 0.5 * x[:, 1] + rng.normal(size=rows)
    y = 0.5 * t + 0.6 * m1 + 0.7 * m2 + 0.5 * x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=rows)
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "t": t, "m1": m1, "m2": m2, "y": y})
    truth = {"nde": 0.5, "nie": 1.51, "total": 2.01, "path.m1": 1.16, "path.m2": 0.35, "path.direct": 0.5}
    return MediationDGP(frame, "t", "y", ["m1", "m2"], ["x1", "x2"], truth)


def induced_confounder_mediation(rows: int, seed: int = 0) -> MediationDGP:
    """A mediator-outcome confounder affected by treatment (T -> L -> M, L -> Y): natural effects are
    not identified; the interventional ones are. X ~ N(0,1); T ~ Bern(expit(0.5 x));
    L = 0.8 T + 0.5 x + N(0,1); M = T + 0.6 L + 0.5 x + N(0,1); Y = 0.4 T + 0.7 M + 0.5 L + 0.5 x + N(0,1).
    Interventional: direct 0.4 + 0.5 * 0.8 = 0.8; indirect 0.7 * (1 + 0.6 * 0.8) = 1.036."""
    rng = _rng(seed)
    x = rng.normal(size=rows)
    t = (rng.random(rows) < expit(0.5 * x)).astype(float)
    l_ = 0.8 * t + 0.5 * x + rng.normal(size=rows)
    m = t + 0.6 * l_ + 0.5 * x + rng.normal(size=rows)
    y = 0.4 * t + 0.7 * m + 0.5 * l_ + 0.5 * x + rng.normal(size=rows)
    frame = pd.DataFrame({"x": x, "t": t, "l": l_, "m": m, "y": y})
    return MediationDGP(frame, "t", "y", ["m"], ["x"], {"nde": 0.8, "nie": 1.036, "total": 1.836}, ["l"])


def confounded_mediator(rows: int, seed: int = 0, rho: float = 0.4) -> MediationDGP:
    """An unobserved mediator-outcome confounder: the errors of M and Y correlate with `rho`.
    X ~ N(0,1); T ~ Bern(0.5); M = T + 0.5 x + e_M; Y = 0.5 T + 0.8 M + 0.5 x + e_Y,
    (e_M, e_Y) standard bivariate normal with correlation rho. NDE = 0.5, NIE = 0.8."""
    rng = _rng(seed)
    x = rng.normal(size=rows)
    t = (rng.random(rows) < 0.5).astype(float)
    e_m = rng.normal(size=rows)
    e_y = rho * e_m + np.sqrt(1 - rho ** 2) * rng.normal(size=rows)
    m = t + 0.5 * x + e_m
    y = 0.5 * t + 0.8 * m + 0.5 * x + e_y
    frame = pd.DataFrame({"x": x, "t": t, "m": m, "y": y})
    return MediationDGP(frame, "t", "y", ["m"], ["x"], {"nde": 0.5, "nie": 0.8, "total": 1.3})
