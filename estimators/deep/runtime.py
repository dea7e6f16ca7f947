"""Import JAX on one CPU thread with 32-bit floats: the one place the deep estimators load it.

XLA reads its thread flags when the backend starts, so they are set before the first import; one
thread is both the fastest choice on these 2-core machines (shared/measurements) and what makes two
runs bit-identical.
"""

from __future__ import annotations

import os

__all__ = ["load_jax", "DEEP_EXTRA_HINT", "deep_available"]

DEEP_EXTRA_HINT = "the deep estimators need JAX: pip install -r requirements-deep.lock (or pip install -e .[deep])"
_ONE_THREAD_FLAGS = ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1")


def deep_available() -> bool:
    """Whether the deep extra is installed, without importing it."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("jax", "optax"))


def load_jax():
    """(jax, jax.numpy, optax), with XLA pinned to one CPU thread before the backend starts."""
    flags = os.environ.get("XLA_FLAGS", "")
    missing = [flag for flag in _ONE_THREAD_FLAGS if flag.split("=")[0] not in flags]
    if missing:
        os.environ["XLA_FLAGS"] = " ".join([flags, *missing]).strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    import jax.numpy as jnp
    import optax

    return jax, jnp, optax
