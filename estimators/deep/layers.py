"""Dense layers as pure functions over (weight, bias) lists, the building block of every network here."""

from __future__ import annotations

import numpy as np

from estimators.deep.runtime import load_jax

jax, jnp, _ = load_jax()

__all__ = ["init_dense", "dense", "standardiser"]


def init_dense(rng: np.random.Generator, sizes: tuple[int, ...]) -> list[tuple]:
    """Layers sizes[0] -> sizes[1] -> ...; LeCun-normal weights (variance 1/fan-in, right for ELU), zero biases.
    Drawn with numpy on the host: JAX's threefry under jit took seconds to compile for a few matrices."""
    return [((rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)).astype(np.float32),
             np.zeros(fan_out, dtype=np.float32)) for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]


def dense(layers: list[tuple], x, *, linear_last: bool = False):
    """ELU after every layer (after all but the last when linear_last: an output layer)."""
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if not (linear_last and i == len(layers) - 1):
            x = jax.nn.elu(x)
    return x


def standardiser(a, axis: int = 0):
    """(mean, scale) of the columns; a constant column gets scale 1 so it maps to zero, not NaN."""
    a = np.asarray(a, dtype=float)
    mean, scale = a.mean(axis=axis), a.std(axis=axis)
    return mean, np.where(scale > 1e-12, scale, 1.0)
