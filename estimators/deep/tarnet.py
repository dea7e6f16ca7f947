"""TARNet and CFRNet (Shalit, Johansson & Sontag 2017): a shared representation, one outcome head per arm.

CFRNet adds an integral probability metric between the arms' representations (Wasserstein or MMD)
to the factual loss, weighted by `alpha`, and normalises the representation to the unit sphere as
the paper's released configuration does. TARNet is the same network with alpha = 0. Rows are
weighted by 1 / (2 P(arm)) so both arms count equally (the paper's w_i); the weights are a data column,
not part of the network's spec, so a new treated share does not recompile the training step. The
validation criterion is the weighted factual error alone (the IPM is a pairwise batch term).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimators.deep.ipm import IPMS
from estimators.deep.layers import dense, init_dense
from estimators.deep.runtime import load_jax
from estimators.deep.train import TrainSettings
from estimators.deep.twoarm import TwoArmFit, fit_two_arm

jax, jnp, _ = load_jax()

__all__ = ["TarNetSpec", "fit_tarnet", "fit_cfrnet", "arm_weights"]


def arm_weights(t, treated_share: float):
    """Shalit et al.'s w_i = t / (2u) + (1 - t) / (2 (1 - u)), u the treated share."""
    return t / (2.0 * treated_share) + (1.0 - t) / (2.0 * (1.0 - treated_share))


@dataclass(frozen=True)
class TarNetSpec:
    n_features: int
    rep_sizes: tuple[int, ...] = (200, 200, 200)
    head_sizes: tuple[int, ...] = (100, 100)
    ipm: str = "none"
    alpha: float = 0.0
    normalise: bool = False

    def init(self, rng):
        head = (self.rep_sizes[-1], *self.head_sizes, 1)
        return {"rep": init_dense(rng, (self.n_features, *self.rep_sizes)),
                "h0": init_dense(rng, head), "h1": init_dense(rng, head)}

    def representation(self, params, x):
        phi = dense(params["rep"], x)
        if self.normalise:
            phi = phi / jnp.sqrt(jnp.sum(phi**2, axis=1, keepdims=True) + 1e-8)
        return phi

    def outcomes(self, params, x):
        phi = self.representation(params, x)
        return dense(params["h0"], phi, linear_last=True)[:, 0], dense(params["h1"], phi, linear_last=True)[:, 0]

    def loss(self, params, batch, weight, key, training):
        phi = self.representation(params, batch["x"])
        t = batch["t"]
        mu0 = dense(params["h0"], phi, linear_last=True)[:, 0]
        mu1 = dense(params["h1"], phi, linear_last=True)[:, 0]
        w = weight * batch["w_arm"]
        factual = jnp.sum(w * (jnp.where(t > 0.5, mu1, mu0) - batch["y"]) ** 2) / (jnp.sum(w) + 1e-8)
        if not training or self.alpha == 0.0:
            return factual
        return factual + self.alpha * IPMS[self.ipm](phi, t, weight)


def fit_tarnet(x, t, y, *, n_members: int = 10, seed: int = 0, settings: TrainSettings = TrainSettings(),
               rep_sizes=(200, 200, 200), head_sizes=(100, 100)) -> TwoArmFit:
    def make(n_features):
        return TarNetSpec(n_features, tuple(rep_sizes), tuple(head_sizes))

    return fit_two_arm(make, x, t, y, n_members=n_members, seed=seed, settings=settings,
                       extra_data={"w_arm": arm_weights(np.asarray(t, float), float(np.mean(t)))})


def fit_cfrnet(x, t, y, *, n_members: int = 10, seed: int = 0, settings: TrainSettings = TrainSettings(),
               ipm: str = "wasserstein", alpha: float = 1.0, rep_sizes=(200, 200, 200),
               head_sizes=(100, 100)) -> TwoArmFit:
    if ipm not in IPMS:
        raise ValueError(f"`ipm` must be one of {sorted(IPMS)}; got {ipm!r}")

    def make(n_features):
        return TarNetSpec(n_features, tuple(rep_sizes), tuple(head_sizes), ipm, float(alpha), True)

    return fit_two_arm(make, x, t, y, n_members=n_members, seed=seed, settings=settings,
                       extra_data={"w_arm": arm_weights(np.asarray(t, float), float(np.mean(t)))})


