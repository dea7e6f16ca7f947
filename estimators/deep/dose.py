"""What the dose-response networks share: treatment scaled to [0, 1], the ensemble fit, the curve mu(t)
on a grid with a pointwise band, and the average derivative.

mu(t) = mean over units of the network's E[Y | T = t, X = x_i] (the average dose-response function);
the band is the ensemble's (bootstrap members') mean +- 1.96 standard deviations at each grid point.
The point value is the average derivative E[d mu(T, X) / dT] at the units' own doses, by central
differences of width 0.05 on the scaled treatment, in outcome units per unit of treatment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from estimators.deep.layers import standardiser
from estimators.deep.runtime import load_jax
from estimators.deep.train import EnsembleFit, TrainSettings, fit_ensemble, make_members, seed_sequence

jax, jnp, _ = load_jax()

__all__ = ["DoseFit", "fit_dose_network", "Z95"]

Z95 = 1.959963984540054
_STEP = 0.05


@partial(jax.jit, static_argnums=(0,))
def _predict(spec, params, x, t):
    return jax.vmap(spec.predict, in_axes=(0, None, None))(params, x, t)


@dataclass
class DoseFit:
    """A fitted dose-response ensemble; treatment is mapped to [0, 1] by the observed range."""

    spec: Any
    ensemble: EnsembleFit
    x_scale: tuple[np.ndarray, np.ndarray]
    y_scale: tuple[float, float]
    t_range: tuple[float, float]

    def _inputs(self, x, t):
        low, high = self.t_range
        x = jnp.asarray((np.asarray(x, dtype=float) - self.x_scale[0]) / self.x_scale[1], dtype=jnp.float32)
        return x, jnp.asarray(np.clip((np.asarray(t, dtype=float) - low) / (high - low), 0.0, 1.0), dtype=jnp.float32)

    def predict(self, x, t) -> np.ndarray:
        """Members x rows E[Y | T = t_i, X = x_i] in outcome units."""
        mean, scale = self.y_scale
        return np.asarray(_predict(self.spec, self.ensemble.params, *self._inputs(x, t)), dtype=float) * scale + mean

    def curve(self, x, grid) -> np.ndarray:
        """Members x grid points: the average dose-response mu(t) over the rows of x."""
        x = np.asarray(x, dtype=float)
        return np.stack([self.predict(x, np.full(len(x), g)).mean(axis=1) for g in grid], axis=1)

    def dose_response(self, x, grid) -> dict[str, list[float]]:
        members = self.curve(x, grid)
        mu, sd = members.mean(axis=0), members.std(axis=0, ddof=1) if members.shape[0] > 1 else 0.0 * members[0]
        return {"grid": [float(g) for g in grid], "mu": mu.tolist(), "low": (mu - Z95 * sd).tolist(),
                "high": (mu + Z95 * sd).tolist()}

    def average_derivative(self, x, t) -> np.ndarray:
        """Per member: mean over rows of d E[Y | T, X] / dT at the rows' own doses (one-sided at the ends)."""
        low, high = self.t_range
        t = np.asarray(t, dtype=float)
        scaled = (t - low) / (high - low)
        up, down = np.clip(scaled + _STEP, 0, 1), np.clip(scaled - _STEP, 0, 1)
        rise = self.predict(x, low + up * (high - low)) - self.predict(x, low + down * (high - low))
        return (rise / ((up - down) * (high - low))).mean(axis=1)


def fit_dose_network(make_spec, x, t, y, *, n_members: int, seed, settings: TrainSettings,
                     validation_fraction: float = 0.3) -> DoseFit:
    """Fit `make_spec(n_features)` as an ensemble on (x standardised, t in [0, 1], y standardised)."""
    x, t, y = (np.asarray(a, dtype=float) for a in (x, t, y))
    low, high = float(t.min()), float(t.max())
    if not high > low:
        raise ValueError("the treatment must vary to estimate a dose-response curve")
    member_seq, train_seq = seed_sequence(seed).spawn(2)
    x_scale, (y_mean, y_sd) = standardiser(x), standardiser(y)
    members = make_members(len(y), n_members, member_seq, validation_fraction=validation_fraction)
    data = {"x": (x - x_scale[0]) / x_scale[1], "t": (t - low) / (high - low), "y": (y - y_mean) / y_sd}
    ensemble = fit_ensemble(make_spec(x.shape[1]), data, members, settings, train_seq)
    return DoseFit(make_spec(x.shape[1]), ensemble, x_scale, (float(y_mean), float(y_sd)), (low, high))
