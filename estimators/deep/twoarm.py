"""What the binary-treatment networks share: scaling, the ensemble fit, and potential-outcome predictions.

Inputs are standardised with the training sample's mean and scale, the outcome too (so one learning
rate fits every outcome unit); predictions are mapped back to the outcome's units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from estimators.deep.layers import standardiser
from estimators.deep.runtime import load_jax
from estimators.deep.train import EnsembleFit, Members, TrainSettings, fit_ensemble, make_members, seed_sequence

jax, jnp, _ = load_jax()

__all__ = ["TwoArmFit", "fit_two_arm", "require_binary"]


@partial(jax.jit, static_argnums=(0,))
def _outcomes(spec, params, x):
    return jax.vmap(spec.outcomes, in_axes=(0, None))(params, x)


@dataclass
class TwoArmFit:
    """A fitted ensemble of a two-headed network; `outcomes(x)` gives (mu0, mu1), each members x rows."""

    spec: Any
    ensemble: EnsembleFit
    x_scale: tuple[np.ndarray, np.ndarray]
    y_scale: tuple[float, float]
    extra: dict[str, Any] = field(default_factory=dict)

    def _x(self, x: np.ndarray):
        mean, scale = self.x_scale
        return jnp.asarray((np.asarray(x, dtype=float) - mean) / scale, dtype=jnp.float32)

    def outcomes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, scale = self.y_scale
        mu0, mu1 = _outcomes(self.spec, self.ensemble.params, self._x(x))
        return np.asarray(mu0, dtype=float) * scale + mean, np.asarray(mu1, dtype=float) * scale + mean

    def cate(self, x: np.ndarray) -> np.ndarray:
        """Members x rows effect predictions."""
        mu0, mu1 = self.outcomes(x)
        return mu1 - mu0


def require_binary(t: np.ndarray) -> None:
    """A two-arm network needs a 0/1 treatment with both arms present."""
    if not set(np.unique(t)) <= {0.0, 1.0} or len(np.unique(t)) < 2:
        raise ValueError("the treatment must be binary (0/1) with both arms present")


def fit_two_arm(make_spec, x: np.ndarray, t: np.ndarray, y: np.ndarray, *, n_members: int, seed,
                settings: TrainSettings, validation_fraction: float = 0.3,
                extra_data: dict[str, np.ndarray] | None = None) -> TwoArmFit:
    """Fit `make_spec(n_features)`'s network as an ensemble stratified by arm (a spec holds no data-dependent
    number: it is a static argument of the jitted epoch, and a new value would recompile it). DCN-PD's
    alternating treated and control epochs have their own loop (dcn_pd.py)."""
    x, t, y = np.asarray(x, dtype=float), np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    require_binary(t)
    member_seq, train_seq = seed_sequence(seed).spawn(2)
    x_scale, (y_mean, y_sd) = standardiser(x), standardiser(y)
    spec = make_spec(x.shape[1])
    members: Members = make_members(len(y), n_members, member_seq, strata=t, validation_fraction=validation_fraction)
    data = {"x": (x - x_scale[0]) / x_scale[1], "t": t, "y": (y - y_mean) / y_sd, **(extra_data or {})}
    ensemble = fit_ensemble(spec, data, members, settings, train_seq)
    return TwoArmFit(spec, ensemble, x_scale, (float(y_mean), float(y_sd)))
