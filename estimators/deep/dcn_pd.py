"""Deep counterfactual network with propensity-dropout, DCN-PD (Alaa, Weisz & van der Schaar 2017).

Shared layers and one set of outcome layers per arm, as in TARNet, but trained in alternating
epochs: treated rows only (shared layers + treated head), then control rows only (shared layers +
control head), the idle head frozen (reference 001 describes the same scheme). Each training row
thins the whole network with its own dropout probability
    p(x) = 1 - gamma / 2 - H(e(x)) / 2,   H the binary entropy in bits of the propensity e(x),
so units whose treatment is nearly certain (poor overlap, little counterfactual information) train a
sparser network and units in the region of overlap a fuller one. e(x) comes from a propensity
network fitted first (one hidden layer, same training core). Prediction uses the full network.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from estimators.deep.layers import dense, init_dense, standardiser
from estimators.deep.runtime import load_jax
from estimators.deep.train import TrainSettings, fit_ensemble, make_members, seed_sequence
from estimators.deep.twoarm import TwoArmFit, fit_two_arm

jax, jnp, _ = load_jax()

__all__ = ["DcnSpec", "PropensitySpec", "fit_dcn_pd", "dropout_probability", "fit_propensity_net"]


def dropout_probability(e, gamma: float = 1.0):
    """Alaa et al.'s propensity-dropout probability; entropy in bits so it lies in [1/2 - gamma/2, 1 - gamma/2]."""
    e = np.clip(np.asarray(e, dtype=float), 1e-6, 1 - 1e-6)
    entropy = -(e * np.log2(e) + (1 - e) * np.log2(1 - e))
    return 1.0 - gamma / 2.0 - entropy / 2.0


@dataclass(frozen=True)
class PropensitySpec:
    """Logistic model with one ELU hidden layer: the propensity network DCN-PD's dropout is driven by."""

    n_features: int
    hidden: int = 100

    def init(self, rng):
        return {"net": init_dense(rng, (self.n_features, self.hidden, 1))}

    def logit(self, params, x):
        return dense(params["net"], x, linear_last=True)[:, 0]

    def loss(self, params, batch, weight, key, training):
        logit = self.logit(params, batch["x"])
        bce = jnp.logaddexp(0.0, logit) - batch["t"] * logit
        return jnp.sum(weight * bce) / (jnp.sum(weight) + 1e-8)


def fit_propensity_net(x_std: np.ndarray, t: np.ndarray, seed, settings: TrainSettings) -> np.ndarray:
    """Propensity scores of all rows from one network early-stopped on a 30% validation split."""
    member_seq, train_seq = seed_sequence(seed).spawn(2)
    spec = PropensitySpec(x_std.shape[1])
    members = make_members(len(t), 1, member_seq, strata=t)
    fit = fit_ensemble(spec, {"x": x_std, "t": t}, members, settings, train_seq)
    return np.asarray(_propensity(spec, fit.params, jnp.asarray(x_std, dtype=jnp.float32))[0], dtype=float)


@partial(jax.jit, static_argnums=(0,))
def _propensity(spec, params, x):
    return jax.nn.sigmoid(jax.vmap(spec.logit, in_axes=(0, None))(params, x))


@dataclass(frozen=True)
class DcnSpec:
    n_features: int
    shared_sizes: tuple[int, ...] = (200, 200)
    head_sizes: tuple[int, ...] = (100, 100)

    def init(self, rng):
        head = (self.shared_sizes[-1], *self.head_sizes, 1)
        return {"rep": init_dense(rng, (self.n_features, *self.shared_sizes)),
                "h0": init_dense(rng, head), "h1": init_dense(rng, head)}

    def _forward(self, layers, x, keep, key, linear_last):
        """dense() with inverted dropout per row (keep probability `keep`, rows x 1) after every hidden layer."""
        for i, (w, b) in enumerate(layers):
            x = x @ w + b
            if linear_last and i == len(layers) - 1:
                break
            x = jax.nn.elu(x)
            if keep is not None:
                key, sub = jax.random.split(key)
                x = jnp.where(jax.random.uniform(sub, x.shape) < keep, x / keep, 0.0)
        return x

    def outcomes(self, params, x):
        phi = dense(params["rep"], x)
        return dense(params["h0"], phi, linear_last=True)[:, 0], dense(params["h1"], phi, linear_last=True)[:, 0]

    def loss(self, params, batch, weight, key, training):
        t, y = batch["t"], batch["y"]
        keep = (1.0 - batch["p_drop"])[:, None] if training else None
        k_rep, k0, k1 = jax.random.split(key, 3)
        phi = self._forward(params["rep"], batch["x"], keep, k_rep, False)
        mu0 = self._forward(params["h0"], phi, keep, k0, True)[:, 0]
        mu1 = self._forward(params["h1"], phi, keep, k1, True)[:, 0]
        error = (jnp.where(t > 0.5, mu1, mu0) - y) ** 2
        return jnp.sum(weight * error) / (jnp.sum(weight) + 1e-8)


def fit_dcn_pd(x, t, y, *, n_members: int = 10, seed: int = 0, settings: TrainSettings = TrainSettings(),
               gamma: float = 1.0, shared_sizes=(200, 200), head_sizes=(100, 100)) -> TwoArmFit:
    x, t = np.asarray(x, dtype=float), np.asarray(t, dtype=float)
    propensity_seq, network_seq = seed_sequence(seed).spawn(2)
    mean, scale = standardiser(x)
    e = fit_propensity_net((x - mean) / scale, t, propensity_seq, settings)
    p_drop = dropout_probability(e, gamma)

    def make(n_features):
        return DcnSpec(n_features, tuple(shared_sizes), tuple(head_sizes))

    # alternating epochs see half the rows each, so twice the patience keeps the same stopping horizon
    alternating = TrainSettings(settings.max_epochs * 2, settings.patience * 2, settings.batch_size,
                                settings.learning_rate, settings.weight_decay)
    fit = fit_two_arm(make, x, t, y, n_members=n_members, seed=network_seq,
                      settings=alternating, alternate_arms=True, extra_data={"p_drop": p_drop})
    fit.extra.update({"propensity": e, "dropout_probability": {"min": float(p_drop.min()),
                                                               "mean": float(p_drop.mean()),
                                                               "max": float(p_drop.max())}})
    return fit
