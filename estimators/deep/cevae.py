"""CEVAE (Louizos, Shalit, Mooij, Sontag, Zemel & Welling 2017): a hidden confounder z recovered from proxies.

Generative model: z ~ N(0, I); each proxy x_j | z ~ N(m_j(z), s_j^2); t | z ~ Bernoulli(g(z));
y | t, z ~ N(f_t(z), s_y^2), f_0 and f_1 separate heads (TARNet-style). Inference networks:
q(t | x), q(y | x, t) and q(z | x, t, y), the last with one head per arm. Training maximises the ELBO
plus the auxiliary log q(t | x) + log q(y | x, t) terms that let the encoder be used on new rows
(paper, eq. 4-5), one reparameterised z sample per row. The effect of a row is
    sum over t' of q(t' | x) [f_1(z_t') - f_0(z_t')],  z_t' the mean of q(z | x, t', E_q[y | x, t']).
Every input column is standardised and modelled as Gaussian (the paper uses Bernoulli likelihoods for
binary proxies; a Gaussian keeps one likelihood and was adequate on IHDP's binary covariates here).
CEVAE identifies the effect only when the proxies pin z down (paper, sec. 3); bench/results/deep-ihdp.md
and the proxy simulation show where it helps and where not.

Cost: training is compute-bound (eight MLPs per row; no recompilation, no per-step host sync) and the
ELBO improves slowly for 150-250 epochs, so the cost is width x epochs. Hidden layers of 64 (was 100)
and a learning rate of 3e-3 (the adapter's default) cut one IHDP replicate from ~29 to ~13-16 CPU s at
10 members, with in-sample sqrt(PEHE) 0.52-0.75 against 0.77 on replicates 1-2 (bench/results/deep-speed.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimators.deep.layers import dense, init_dense
from estimators.deep.runtime import load_jax
from estimators.deep.train import TrainSettings
from estimators.deep.twoarm import TwoArmFit, fit_two_arm

jax, jnp, _ = load_jax()

__all__ = ["CevaeSpec", "fit_cevae"]

_LOG_2PI = 1.8378770664093453


def _gauss(value, mean, log_sd):
    return -0.5 * ((value - mean) * jnp.exp(-log_sd)) ** 2 - log_sd - 0.5 * _LOG_2PI


def _bernoulli(value, logit):
    return value * logit - jnp.logaddexp(0.0, logit)


@dataclass(frozen=True)
class CevaeSpec:
    n_features: int
    latent_dim: int = 20
    hidden: tuple[int, ...] = (100, 100)

    def init(self, rng):
        h, d, k = self.hidden, self.n_features, self.latent_dim
        return {
            "p_x": init_dense(rng, (k, *h, d)), "p_x_log_sd": np.zeros(d, dtype=np.float32),
            "p_t": init_dense(rng, (k, h[0], 1)),
            "h0": init_dense(rng, (k, *h, 1)), "h1": init_dense(rng, (k, *h, 1)),
            "p_y_log_sd": np.zeros((), dtype=np.float32),
            "q_t": init_dense(rng, (d, h[0], 1)),
            "q_y": init_dense(rng, (d, *h)), "q_y0": init_dense(rng, (h[-1], 1)),
            "q_y1": init_dense(rng, (h[-1], 1)),
            "q_z": init_dense(rng, (d + 1, *h)), "q_z0": init_dense(rng, (h[-1], 2 * k)),
            "q_z1": init_dense(rng, (h[-1], 2 * k)),
        }

    def _q_y(self, params, x):
        shared = dense(params["q_y"], x)
        return dense(params["q_y0"], shared, linear_last=True)[:, 0], dense(params["q_y1"], shared, linear_last=True)[:, 0]

    def _q_z(self, params, x, t, y):
        shared = dense(params["q_z"], jnp.concatenate([x, y[:, None]], axis=1))
        out = jnp.where(t[:, None] > 0.5, dense(params["q_z1"], shared, linear_last=True),
                        dense(params["q_z0"], shared, linear_last=True))
        return out[:, : self.latent_dim], jnp.clip(out[:, self.latent_dim:], -6.0, 3.0)

    def _f(self, params, z):
        return dense(params["h0"], z, linear_last=True)[:, 0], dense(params["h1"], z, linear_last=True)[:, 0]

    def outcomes(self, params, x):
        p_t = jax.nn.sigmoid(dense(params["q_t"], x, linear_last=True)[:, 0])
        y0_hat, y1_hat = self._q_y(params, x)
        z0, _ = self._q_z(params, x, jnp.zeros_like(y0_hat), y0_hat)
        z1, _ = self._q_z(params, x, jnp.ones_like(y1_hat), y1_hat)
        f0_at0, f1_at0 = self._f(params, z0)
        f0_at1, f1_at1 = self._f(params, z1)
        return (1 - p_t) * f0_at0 + p_t * f0_at1, (1 - p_t) * f1_at0 + p_t * f1_at1

    def loss(self, params, batch, weight, key, training):
        x, t, y = batch["x"], batch["t"], batch["y"]
        mean, log_sd = self._q_z(params, x, t, y)
        z = mean + jnp.exp(log_sd) * jax.random.normal(key, mean.shape)
        log_px = _gauss(x, dense(params["p_x"], z, linear_last=True), params["p_x_log_sd"]).sum(axis=1)
        log_pt = _bernoulli(t, dense(params["p_t"], z, linear_last=True)[:, 0])
        f0, f1 = self._f(params, z)
        log_py = _gauss(y, jnp.where(t > 0.5, f1, f0), params["p_y_log_sd"])
        kl = 0.5 * jnp.sum(mean**2 + jnp.exp(2 * log_sd) - 1.0 - 2 * log_sd, axis=1)
        log_qt = _bernoulli(t, dense(params["q_t"], x, linear_last=True)[:, 0])
        q0, q1 = self._q_y(params, x)
        log_qy = _gauss(y, jnp.where(t > 0.5, q1, q0), 0.0)
        per_row = -(log_px + log_pt + log_py - kl + log_qt + log_qy)
        return jnp.sum(weight * per_row) / (jnp.sum(weight) + 1e-8)


def fit_cevae(proxies, t, y, *, n_members: int = 10, seed: int = 0, settings: TrainSettings = TrainSettings(),
              latent_dim: int = 20, hidden=(64, 64)) -> TwoArmFit:
    """Fit CEVAE on the proxy matrix (every column a noisy view of the hidden confounder)."""
    def make(n_features):
        return CevaeSpec(n_features, int(latent_dim), tuple(hidden))

    return fit_two_arm(make, proxies, t, y, n_members=n_members, seed=seed, settings=settings)
