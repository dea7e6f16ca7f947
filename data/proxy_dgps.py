"""A hidden binary confounder seen only through noisy proxies, for CEVAE (Louizos et al. 2017, sec. 4.1 style).

z ~ Bernoulli(1/2) is never observed; k proxies x_j = z + noise_j, noise_j ~ N(0, s_j^2) with s_j
spread around `noise`; treatment T ~ Bernoulli(0.25 + 0.5 z); outcome Y = T + 2 z + T z + N(0, 1),
so the ATE is 1.5 and the confounding through z is strong. Adjusting for the proxies removes only
part of the bias (they measure z with error); adjusting for z itself removes all of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["ProxySimulation", "hidden_confounder", "PROXY_ATE"]

PROXY_ATE = 1.5


@dataclass(frozen=True)
class ProxySimulation:
    proxies: np.ndarray
    t: np.ndarray
    y: np.ndarray
    z: np.ndarray  # the hidden confounder (for oracle comparisons only)
    cate: np.ndarray  # true unit effects 1 + z
    ate: float = PROXY_ATE

    def frame(self) -> pd.DataFrame:
        columns = {f"proxy{i + 1}": self.proxies[:, i] for i in range(self.proxies.shape[1])}
        return pd.DataFrame({**columns, "treated": self.t, "y": self.y})


def hidden_confounder(n: int = 2000, seed: int = 0, n_proxies: int = 5, noise: float = 1.0) -> ProxySimulation:
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, n).astype(float)
    scales = noise * np.linspace(0.5, 1.5, n_proxies) if n_proxies > 1 else np.array([noise])
    proxies = z[:, None] + rng.normal(size=(n, n_proxies)) * scales
    t = (rng.random(n) < 0.25 + 0.5 * z).astype(float)
    y = t + 2 * z + t * z + rng.normal(size=n)
    return ProxySimulation(proxies, t, y, z, 1 + z)
