"""Integral probability metrics between the treated and control representations (CFRNet's balance penalty).

Both take the whole minibatch with row weights, so a batch is one fixed shape whatever its arms' sizes:
the treated distribution puts mass t_i w_i / sum(t w) on row i, the control one (1 - t_i) w_i / sum(...).
"""

from __future__ import annotations

from estimators.deep.runtime import load_jax

jax, jnp, _ = load_jax()

__all__ = ["wasserstein", "mmd_rbf", "IPMS"]

_EPS = 1e-8


def _arm_masses(t, weight):
    treated, control = t * weight, (1.0 - t) * weight
    return treated / (treated.sum() + _EPS), control / (control.sum() + _EPS)


def wasserstein(phi, t, weight, *, lam: float = 10.0, iterations: int = 10):
    """Entropy-regularised Wasserstein-1 distance by Sinkhorn iterations (Cuturi 2013), as CFR-Wass uses it
    (Shalit et al. 2017, sec. 5). The transport plan is held fixed under differentiation (envelope theorem)."""
    a, b = _arm_masses(t, weight)
    sq = jnp.sum(phi**2, axis=1)
    cost = jnp.sqrt(jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * phi @ phi.T, 0.0) + _EPS)
    scale = jax.lax.stop_gradient(jnp.sum(cost * a[:, None] * b[None, :]) + _EPS)
    kernel = jnp.exp(-lam * cost / scale)
    v = b
    for _ in range(iterations):
        u = a / (kernel @ v + _EPS)
        v = b / (kernel.T @ u + _EPS)
    plan = jax.lax.stop_gradient(u[:, None] * kernel * v[None, :])
    return jnp.sum(plan * cost)


def mmd_rbf(phi, t, weight, *, bandwidth: float = 1.0):
    """Squared maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012), weighted rows."""
    a, b = _arm_masses(t, weight)
    sq = jnp.sum(phi**2, axis=1)
    kernel = jnp.exp(-jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * phi @ phi.T, 0.0) / (2.0 * bandwidth**2))
    diff = a - b
    return diff @ kernel @ diff


IPMS = {"wasserstein": wasserstein, "mmd": mmd_rbf}
