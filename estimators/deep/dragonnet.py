"""DragonNet (Shi, Blei & Veitch 2019): TARNet plus a propensity head on the shared representation and
targeted regularisation.

The propensity head makes the representation keep what predicts treatment (and so confounds), the
targeted term fits a scalar epsilon such that Q~(t, x) = Q(t, x) + epsilon (t / g - (1 - t) / (1 - g))
solves the efficient influence function's estimating equation, which is the step that gives the
plug-in average effect its non-parametric efficiency (paper, sec. 3). Loss per row:
(y - Q)^2 + alpha BCE(g, t) + beta (y - Q~)^2, alpha = beta = 1 as in the paper; g is clipped to
[0.01, 0.99] inside the targeted term. The validation criterion is the same loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from estimators.deep.layers import dense, init_dense
from estimators.deep.runtime import load_jax
from estimators.deep.train import TrainSettings
from estimators.deep.twoarm import TwoArmFit, fit_two_arm

jax, jnp, _ = load_jax()

__all__ = ["DragonNetSpec", "fit_dragonnet", "propensity"]


@dataclass(frozen=True)
class DragonNetSpec:
    n_features: int
    rep_sizes: tuple[int, ...] = (200, 200, 200)
    head_sizes: tuple[int, ...] = (100, 100)
    alpha: float = 1.0
    beta: float = 1.0

    def init(self, rng):
        head = (self.rep_sizes[-1], *self.head_sizes, 1)
        return {"rep": init_dense(rng, (self.n_features, *self.rep_sizes)), "h0": init_dense(rng, head),
                "h1": init_dense(rng, head), "g": init_dense(rng, (self.rep_sizes[-1], 1)),
                "epsilon": np.zeros((), dtype=np.float32)}

    def _heads(self, params, x):
        phi = dense(params["rep"], x)
        mu0 = dense(params["h0"], phi, linear_last=True)[:, 0]
        mu1 = dense(params["h1"], phi, linear_last=True)[:, 0]
        logit = dense(params["g"], phi, linear_last=True)[:, 0]
        return mu0, mu1, logit

    def outcomes(self, params, x):
        mu0, mu1, _ = self._heads(params, x)
        return mu0, mu1

    def propensity(self, params, x):
        return jax.nn.sigmoid(self._heads(params, x)[2])

    def loss(self, params, batch, weight, key, training):
        mu0, mu1, logit = self._heads(params, batch["x"])
        t, y = batch["t"], batch["y"]
        q = jnp.where(t > 0.5, mu1, mu0)
        bce = jnp.logaddexp(0.0, logit) - t * logit
        g = jnp.clip(jax.nn.sigmoid(logit), 0.01, 0.99)
        targeted = q + params["epsilon"] * (t / g - (1.0 - t) / (1.0 - g))
        per_row = (y - q) ** 2 + self.alpha * bce + self.beta * (y - targeted) ** 2
        return jnp.sum(weight * per_row) / (jnp.sum(weight) + 1e-8)


@partial(jax.jit, static_argnums=(0,))
def _propensity(spec, params, x):
    return jax.vmap(spec.propensity, in_axes=(0, None))(params, x)


def propensity(fit: TwoArmFit, x) -> np.ndarray:
    """Members x rows propensity predictions of a fitted DragonNet."""
    return np.asarray(_propensity(fit.spec, fit.ensemble.params, fit._x(x)), dtype=float)


def fit_dragonnet(x, t, y, *, n_members: int = 10, seed: int = 0, settings: TrainSettings = TrainSettings(),
                  alpha: float = 1.0, beta: float = 1.0, rep_sizes=(200, 200, 200), head_sizes=(100, 100)) -> TwoArmFit:
    def make(n_features):
        return DragonNetSpec(n_features, tuple(rep_sizes), tuple(head_sizes), float(alpha), float(beta))

    return fit_two_arm(make, x, t, y, n_members=n_members, seed=seed, settings=settings)
