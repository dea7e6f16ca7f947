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

from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from estimators.deep.layers import dense, init_dense, standardiser
from estimators.deep.runtime import load_jax
from estimators.deep.train import Members, TrainSettings, fit_ensemble, make_members, seed_sequence
from estimators.deep.twoarm import TwoArmFit, require_binary

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
        weight = weight * batch["w"]
        if not training:  # validation: every row against its own arm's head, no dropout
            mu0, mu1 = self.outcomes(params, batch["x"])
            error = (jnp.where(batch["t"] > 0.5, mu1, mu0) - batch["y"]) ** 2
            return jnp.sum(weight * error) / (jnp.sum(weight) + 1e-8)
        # a training batch is one arm's rows (alternating epochs), so only that arm's head runs: the idle
        # head would get a zero gradient anyway, and skipping it saves a third of the step
        head = jax.tree.map(lambda h1, h0: jnp.where(batch["t"][0] > 0.5, h1, h0), params["h1"], params["h0"])
        keep = (1.0 - batch["p_drop"])[:, None]
        k_rep, k_head = jax.random.split(key)
        phi = self._forward(params["rep"], batch["x"], keep, k_rep, False)
        error = (self._forward(head, phi, keep, k_head, True)[:, 0] - batch["y"]) ** 2
        return jnp.sum(weight * error) / (jnp.sum(weight) + 1e-8)


def _full_batches(rows: np.ndarray, pad_row: int, settings: TrainSettings) -> np.ndarray:
    """An arm's rows (members x k) padded with `pad_row` to whole batches, so that an epoch passes over all of
    them (the shared loop drops the remainder: half the treated rows of an IHDP epoch) and the epoch's shape
    changes only when k crosses a multiple of the batch size."""
    size = settings.batch_for(rows.shape[1])
    width = -(-rows.shape[1] // size) * size
    size = settings.batch_for(width)  # past 6,400 rows batches grow, so pad to their size instead
    width = -(-rows.shape[1] // size) * size
    return np.hstack([rows, np.full((rows.shape[0], width - rows.shape[1]), pad_row)])


def _fit_alternating(spec, x, t, y, p_drop, n_members, seed, settings: TrainSettings) -> TwoArmFit:
    """fit_two_arm's treated/control epochs in turn, each a pass over all of its arm's rows: rows n and n + 1
    are zero-weight control and treated padding that fills an arm's last batch."""
    require_binary(t)
    n = len(y)
    member_seq, train_seq = seed_sequence(seed).spawn(2)
    x_scale, (y_mean, y_sd) = standardiser(x), standardiser(y)
    members = make_members(n, n_members, member_seq, strata=t).by_label(t)
    phases = tuple(_full_batches(rows, n + arm, settings) for rows, arm in zip(members.phases, (1, 0)))
    padded = Members(phases, np.hstack([members.val_weight, np.zeros((n_members, 2))]), members.bootstrap)
    data = {"x": np.vstack([(x - x_scale[0]) / x_scale[1], np.zeros((2, x.shape[1]))]),
            "t": np.append(t, [0.0, 1.0]), "y": np.append((y - y_mean) / y_sd, [0.0, 0.0]),
            "p_drop": np.append(p_drop, [0.0, 0.0]), "w": np.append(np.ones(n), [0.0, 0.0])}
    ensemble = fit_ensemble(spec, data, padded, settings, train_seq, frozen=(("h0",), ("h1",)))
    ensemble.out_of_bag = ensemble.out_of_bag[:, :n]
    return TwoArmFit(spec, ensemble, x_scale, (float(y_mean), float(y_sd)))


def fit_dcn_pd(x, t, y, *, n_members: int = 10, seed: int = 0, settings: TrainSettings = TrainSettings(),
               gamma: float = 1.0, shared_sizes=(200, 200), head_sizes=(100, 100)) -> TwoArmFit:
    x, t, y = np.asarray(x, dtype=float), np.asarray(t, dtype=float), np.asarray(y, dtype=float)
    propensity_seq, network_seq = seed_sequence(seed).spawn(2)
    mean, scale = standardiser(x)
    e = fit_propensity_net((x - mean) / scale, t, propensity_seq, settings)
    p_drop = dropout_probability(e, gamma)
    # an epoch is one arm's rows, so twice as many; patience counts validations, one per treated+control cycle
    alternating = replace(settings, max_epochs=settings.max_epochs * 2)
    fit = _fit_alternating(DcnSpec(x.shape[1], tuple(shared_sizes), tuple(head_sizes)), x, t, y, p_drop,
                           n_members, network_seq, alternating)
    fit.extra.update({"propensity": e, "dropout_probability": {"min": float(p_drop.min()),
                                                               "mean": float(p_drop.mean()),
                                                               "max": float(p_drop.max())}})
    return fit
