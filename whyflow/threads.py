"""Run numeric libraries on one thread per process.

Measured on these 2-core machines (shared/measurements): multi-threaded OpenBLAS and LightGBM were
2-45x slower than one thread at 1e5 rows, and one thread keeps results bit-identical. Parallelism
comes from separate processes instead. WHYFLOW_THREADS overrides the per-process thread count.
"""

import os

__all__ = ["thread_count", "pin_threads", "single_threaded"]

_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def thread_count() -> int:
    """Threads each process may use for numeric work (default 1)."""
    value = os.environ.get("WHYFLOW_THREADS", "1")
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"WHYFLOW_THREADS must be a positive integer; got {value!r}")
    return count


def pin_threads() -> None:
    """Set the thread variables before numpy/scipy load; later loads and worker processes inherit
    them. WHYFLOW_THREADS is the one knob: a stray OMP_NUM_THREADS in the user's shell does not win."""
    count = str(thread_count())
    for name in _ENV_VARS:
        os.environ[name] = count


def single_threaded():
    """Context manager limiting already-loaded BLAS/OpenMP pools (threadpoolctl)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=thread_count())
