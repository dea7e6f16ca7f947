"""Continuous-treatment simulations with a known average dose-response curve mu(t), for DRNet and VCNet.

`vcnet_style` follows the simulation of Nie et al. (2021, sec. 5.1): six uniform covariates, a dose
in (0, 1) that depends on them non-linearly (so a naive regression of Y on T is confounded), and an
outcome whose response to the dose is a cosine wave scaled by the dose and the covariates. Because
the covariates are independent uniforms, mu(t) = E[Y | do(T = t)] has a closed form:
    mu(t) = cos(2 pi (t - 1/2)) (t^2 + c),  c = 4 E[max(x1, x6)^3] E[1 / (1 + 2 x3^2)] E[sin x4]
          = 4 (2/5) (arctan(sqrt 2) / sqrt 2) (1 - cos 1).
`linear_dose` is the simple truth for tests: mu(t) = 1 + 2 t with a confounded dose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.special import expit

__all__ = ["DoseSimulation", "vcnet_style", "linear_dose", "VCNET_CONSTANT"]

VCNET_CONSTANT = 4 * (2 / 5) * (math.atan(math.sqrt(2)) / math.sqrt(2)) * (1 - math.cos(1.0))


@dataclass(frozen=True)
class DoseSimulation:
    x: np.ndarray
    t: np.ndarray
    y: np.ndarray
    mu: Callable[[np.ndarray], np.ndarray]  # the true average dose-response at doses t
    derivative: float  # true average derivative E[d mu / dt (T)] over the sample's doses

    def frame(self) -> pd.DataFrame:
        columns = {f"x{i + 1}": self.x[:, i] for i in range(self.x.shape[1])}
        return pd.DataFrame({**columns, "dose": self.t, "y": self.y})

    def grid(self, points: int = 21) -> np.ndarray:
        """Evenly spaced doses between the sample's 5% and 95% quantiles (where the data speak)."""
        low, high = np.quantile(self.t, [0.05, 0.95])
        return np.linspace(low, high, points)


def _vcnet_mu(t):
    t = np.asarray(t, dtype=float)
    return np.cos(2 * np.pi * (t - 0.5)) * (t**2 + VCNET_CONSTANT)


def _vcnet_mu_slope(t):
    t = np.asarray(t, dtype=float)
    return -2 * np.pi * np.sin(2 * np.pi * (t - 0.5)) * (t**2 + VCNET_CONSTANT) + np.cos(2 * np.pi * (t - 0.5)) * 2 * t


def vcnet_style(n: int = 1000, seed: int = 0) -> DoseSimulation:
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 6))
    x1, x2, x3, x4, x5, x6 = x.T
    logit = ((10 * np.sin(np.maximum.reduce([x1, x2, x3])) + np.maximum.reduce([x3, x4, x5]) ** 3)
             / (1 + (x1 + x5) ** 2) + np.sin(0.5 * x3) * (1 + np.exp(x4 - 0.5 * x3)) + x3**2 + 2 * np.sin(x4)
             + 2 * x5 - 6.5 + rng.normal(0, 0.5, n))
    t = expit(logit)
    y = (np.cos(2 * np.pi * (t - 0.5)) * (t**2 + 4 * np.maximum(x1, x6) ** 3 / (1 + 2 * x3**2) * np.sin(x4))
         + rng.normal(0, 0.5, n))
    return DoseSimulation(x, t, y, _vcnet_mu, float(np.mean(_vcnet_mu_slope(t))))


def linear_dose(n: int = 1000, seed: int = 0) -> DoseSimulation:
    """Y = 1 + 2 T + X1 + noise, T = 0.5 X1 + noise: the curve is the line 1 + 2t (E[X1] = 0)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    t = 0.5 * x[:, 0] + rng.normal(size=n)
    y = 1 + 2 * t + x[:, 0] + rng.normal(0, 0.5, n)
    return DoseSimulation(x, t, y, lambda d: 1 + 2 * np.asarray(d, dtype=float), 2.0)
