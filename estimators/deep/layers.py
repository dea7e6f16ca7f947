"""Dense layers as pure functions over (weight, bias) lists, the building block of every network here."""

from __future__ import annotations

from estimators.deep.runtime import load_jax

jax, jnp, _ = load_jax()

__all__ = ["init_dense", "dense", "standardiser"]


def init_dense(key, sizes: tuple[int, ...]) -> list[tuple]:
    """Layers sizes[0] -> sizes[1] -> ...; LeCun-normal weights (variance 1/fan-in, right for ELU), zero biases."""
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, sub = jax.random.split(key)
        layers.append((jax.random.normal(sub, (fan_in, fan_out)) / jnp.sqrt(fan_in), jnp.zeros(fan_out)))
    return layers


def dense(layers: list[tuple], x, *, linear_last: bool = False):
    """ELU after every layer (after all but the last when linear_last: an output layer)."""
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if not (linear_last and i == len(layers) - 1):
            x = jax.nn.elu(x)
    return x


def standardiser(a, axis: int = 0):
    """(mean, scale) of the columns; a constant column gets scale 1 so it maps to zero, not NaN."""
    import numpy as np

    a = np.asarray(a, dtype=float)
    mean, scale = a.mean(axis=axis), a.std(axis=axis)
    return mean, np.where(scale > 1e-12, scale, 1.0)
