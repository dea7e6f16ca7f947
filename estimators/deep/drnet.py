"""DRNet (Schwab, Linhardt, Bauer, Buhmann & Karlen 2020): dose-response network for a continuous treatment.

Shared base layers learn a representation of x; the treatment's range (scaled to [0, 1]) is cut into
`n_strata` equal strata and each stratum has its own head, which sees the representation with the
dose appended to the input of every head layer (the paper's trick for keeping t's influence from
washing out). A row trains only its stratum's head. With one treatment this is the paper's
dosage-strata part; its optional Wasserstein balancing between strata is not included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimators.deep.dose import DoseFit, fit_dose_network
from estimators.deep.layers import dense, init_dense
from estimators.deep.runtime import load_jax
from estimators.deep.train import TrainSettings

jax, jnp, _ = load_jax()

__all__ = ["DrNetSpec", "fit_drnet"]


@dataclass(frozen=True)
class DrNetSpec:
    n_features: int
    n_strata: int = 5
    base_sizes: tuple[int, ...] = (100, 100)
    head_sizes: tuple[int, ...] = (50, 50)

    def init(self, rng):
        base = init_dense(rng, (self.n_features, *self.base_sizes))
        widths = (self.base_sizes[-1], *self.head_sizes, 1)
        # one layer list per stratum, stacked on a leading axis (the dose is one extra input of each layer)
        heads = [[init_dense(rng, (w_in + 1, w_out))[0] for w_in, w_out in zip(widths[:-1], widths[1:])]
                 for _ in range(self.n_strata)]
        stacked = [tuple(np.stack([head[i][part] for head in heads]) for part in (0, 1)) for i in range(len(heads[0]))]
        return {"base": base, "heads": stacked}

    def _head(self, layers, h, t):
        for i, (w, b) in enumerate(layers):
            h = jnp.concatenate([h, t[:, None]], axis=1) @ w + b
            if i < len(layers) - 1:
                h = jax.nn.elu(h)
        return h[:, 0]

    def predict(self, params, x, t):
        h = dense(params["base"], x)
        every = jax.vmap(lambda layers: self._head(layers, h, t))(params["heads"])  # strata x rows
        stratum = jnp.clip(jnp.floor(t * self.n_strata).astype(jnp.int32), 0, self.n_strata - 1)
        return jnp.take_along_axis(every, stratum[None, :], axis=0)[0]

    def loss(self, params, batch, weight, key, training):
        error = (self.predict(params, batch["x"], batch["t"]) - batch["y"]) ** 2
        return jnp.sum(weight * error) / (jnp.sum(weight) + 1e-8)


def fit_drnet(x, t, y, *, n_members: int = 10, seed: int = 0, settings: TrainSettings = TrainSettings(),
              n_strata: int = 5, base_sizes=(100, 100), head_sizes=(50, 50)) -> DoseFit:
    def make(n_features):
        return DrNetSpec(n_features, int(n_strata), tuple(base_sizes), tuple(head_sizes))

    return fit_dose_network(make, x, t, y, n_members=n_members, seed=seed, settings=settings)
