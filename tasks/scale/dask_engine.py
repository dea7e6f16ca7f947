"""The same streaming passes on Dask: one partition per Parquet file, statistics tree-reduced.

Each pass maps the pass function over the partitions of a dask.dataframe (dd.from_map over the
files, each partition indexed by its global row numbers, so folds and samples match the
single-process engine) and reduces the per-partition statistics in a tree of `split_every`-way
combines on the workers; only the summed statistics (a few kilobytes) come back. The cluster is
the scheduler at spec.dask_address or WHYFLOW_DASK_ADDRESS, else a LocalCluster of one
single-threaded worker process per core. Workers need whyflow importable (same environment).
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Callable, Iterator

from estimators.streaming import FrameDesign, reduce_stats
from tasks.scale.source import StreamSource, pieces, read_piece
from whyflow.errors import DataError
from whyflow.spec import AnalysisSpec

__all__ = ["DaskEngine", "dask_client", "dask_address"]

log = logging.getLogger(__name__)


def _apply(frame, design: FrameDesign, fn: Callable) -> dict:
    return fn(design.block(frame))


def dask_address(spec: AnalysisSpec) -> str | None:
    return spec.dask_address or os.environ.get("WHYFLOW_DASK_ADDRESS") or None


@contextlib.contextmanager
def dask_client(spec: AnalysisSpec, workers: int | None = None) -> Iterator:
    """A distributed Client on the configured scheduler, or on a LocalCluster closed afterwards."""
    from distributed import Client, LocalCluster

    address = dask_address(spec)
    if address:
        try:
            client = Client(address, timeout="20s")
        except Exception as exc:
            raise DataError(f"analysis '{spec.name}': cannot reach the Dask scheduler at {address!r} "
                            f"({type(exc).__name__})") from None
        with client:
            yield client
        return
    count = workers or spec.workers or os.cpu_count() or 1
    with LocalCluster(n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0) as cluster, Client(cluster) as client:
        log.info("dask: LocalCluster with %d single-threaded workers", count)
        yield client


class DaskEngine:
    """Engine protocol of estimators/streaming.py over dask partitions (one per file)."""

    def __init__(self, source: StreamSource, design: FrameDesign, client, split_every: int = 8):
        self.source, self.design, self.client, self.split_every = source, design, client, split_every
        self.layout = design.layout
        self.passes = 0

    def _partitions(self):
        import dask.dataframe as dd

        columns = self.design.columns()
        meta = read_piece(pieces(self.source)[0], columns).iloc[:0]
        return dd.from_map(read_piece, pieces(self.source), columns=columns, meta=meta, enforce_metadata=False)

    def map_reduce(self, fn: Callable) -> dict:
        import dask

        self.passes += 1
        mapped = [dask.delayed(_apply)(part, self.design, fn) for part in self._partitions().to_delayed()]
        while len(mapped) > 1:
            mapped = [dask.delayed(reduce_stats)(mapped[i:i + self.split_every])
                      for i in range(0, len(mapped), self.split_every)]
        return self.client.compute(mapped[0]).result()

    def sample(self, rows: int):
        frame = read_piece(pieces(self.source)[0], self.design.columns())
        return self.design.block(frame.iloc[:rows])
