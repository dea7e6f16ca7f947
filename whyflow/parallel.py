"""Independent work in separate processes: each process single-threaded, results in input order.

Workers come from a forkserver that preloads the numeric stack once, so a worker starts in
milliseconds instead of re-importing EconML; the server starts from a clean process, not a fork of
one that runs Prefect's threads.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Callable, Iterable, TypeVar

__all__ = ["default_workers", "map_processes", "one_thread_worker", "warm_up"]

T = TypeVar("T")
R = TypeVar("R")
_PRELOAD = ["numpy", "scipy.stats", "sklearn.linear_model", "econml.dml", "estimators.registry"]


def default_workers() -> int:
    """WHYFLOW_WORKERS, else one process per core."""
    value = os.environ.get("WHYFLOW_WORKERS")
    return max(1, int(value)) if value else max(1, os.cpu_count() or 1)


def _context():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def warm_up(workers: int) -> None:
    """Start the forkserver now, so its imports run on another core while this process works."""
    if workers > 1:
        from multiprocessing import forkserver

        _context()
        forkserver.ensure_running()


def one_thread_worker() -> None:
    """Every worker runs numeric libraries on whyflow's thread count, whatever the caller's environment
    (a forkserver started by another program may not have pinned them)."""
    from whyflow.threads import pin_threads, thread_count

    pin_threads()
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=thread_count())


def map_processes(fn: Callable[[T], R], items: Iterable[T], workers: int) -> list[R]:
    """fn over items, in `workers` processes (in this process when workers is 1)."""
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=_context(),
                             initializer=one_thread_worker) as pool:
        return list(pool.map(fn, items))
