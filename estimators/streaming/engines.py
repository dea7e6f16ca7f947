"""Where blocks come from. Every streaming estimator is a sequence of passes; an engine maps a pass
function over blocks and reduces the statistics (estimators/streaming/blocks.py):

- MemoryEngine cuts an in-memory CausalData (the reference the out-of-core engines must reproduce),
- ChunkEngine reads a Parquet dataset chunk by chunk in this process (memory: one chunk),
- DaskEngine maps the same functions over dask partitions (one per file) and tree-reduces the
  statistics on the workers; only the summed statistics (a few kilobytes) come back.

Chunks are frames indexed by the global row number (files in sorted path order), so row-based folds
and samples do not depend on the chunk size or the engine.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from estimators.base import CausalData
from estimators.streaming.blocks import (Block, FrameDesign, Layout, Stats, fold_of, reduce_stats, sort_by_cell,
                                        unit_hash)

__all__ = ["MemoryEngine", "ChunkEngine", "DaskEngine", "ParquetDataset", "iter_frames", "pieces", "read_piece",
           "dask_client"]

log = logging.getLogger(__name__)


class MemoryEngine:
    """Blocks cut from an in-memory CausalData (row index as unit key): the streaming algorithms on
    data that fit, and the reference the out-of-core engines must reproduce."""

    def __init__(self, data: CausalData, folds: int = 5, seed: int = 0, chunk_rows: int = 250_000,
                 fold: np.ndarray | None = None):
        self.data, self.chunk_rows = data, max(1, int(chunk_rows))
        self.hash = unit_hash(np.arange(data.n), seed)
        # `fold` overrides the hash folds (to compare with an estimator that draws its own)
        self.fold = fold_of(None, seed, folds, self.hash) if fold is None else np.asarray(fold, dtype=np.int8)
        levels = {name: sorted(set(labels.tolist())) for name, labels in data.segments.items()}
        self.codes = {name: np.searchsorted(levels[name], labels) for name, labels in data.segments.items()}
        self.layout = Layout(list(data.covariate_names), list(data.x_names), levels, data.treatment_type, folds)

    def _block(self, rows: slice) -> Block:
        d = self.data
        return sort_by_cell(Block(d.Y[rows], d.T[rows], d.covariates[rows], d.X[rows], self.fold[rows],
                                  {k: v[rows] for k, v in self.codes.items()}, hash=self.hash[rows]))

    def blocks(self) -> Iterator[Block]:
        for start in range(0, self.data.n, self.chunk_rows):
            yield self._block(slice(start, start + self.chunk_rows))

    def map_reduce(self, fn: Callable[[Block], Stats]) -> Stats:
        return reduce_stats(fn(block) for block in self.blocks())

    def sample(self, rows: int) -> Block:
        # in memory a pass costs about what a warm-start fit on the sample costs: keep the sample small
        return self._block(slice(0, min(rows, 50_000)))


@dataclass(frozen=True)
class ParquetDataset:
    """Sorted Parquet files with their row counts and schema (a SQL source is first written as one)."""

    files: tuple[Path, ...]
    root: Path
    file_rows: tuple[int, ...]
    schema: dict[str, str]
    description: str
    categorical_columns: frozenset[str] = field(default_factory=frozenset)

    @property
    def rows(self) -> int:
        return int(sum(self.file_rows))


def iter_frames(source: ParquetDataset, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Record batches of the needed columns, in file order, as frames indexed by global row number."""
    import pyarrow.dataset as ds

    dataset = ds.dataset([str(f) for f in source.files], format="parquet")
    offset = 0
    for batch in dataset.to_batches(columns=columns, batch_size=chunk_rows, use_threads=False):
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        offset += len(frame)
        yield frame


def pieces(source: ParquetDataset) -> list[tuple[str, int]]:
    """(file, first global row) per file: what one Dask partition reads."""
    starts = np.concatenate([[0], np.cumsum(source.file_rows)[:-1]]).astype(int)
    return [(str(f), int(s)) for f, s in zip(source.files, starts)]


def read_piece(piece: tuple[str, int], columns: list[str]) -> pd.DataFrame:
    import pyarrow.parquet as pq

    path, start = piece
    frame = pq.read_table(path, columns=columns, use_threads=False).to_pandas()
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


class ChunkEngine:
    """Single-process engine: every pass reads the files chunk by chunk (memory: one chunk)."""

    def __init__(self, source: ParquetDataset, design: FrameDesign, chunk_rows: int = 1_000_000):
        self.source, self.design, self.chunk_rows = source, design, chunk_rows
        self.layout = design.layout
        self.passes = 0

    def map_reduce(self, fn: Callable) -> dict:
        self.passes += 1
        return reduce_stats(fn(sort_by_cell(self.design.block(frame))) for frame in
                            iter_frames(self.source, self.design.columns(), self.chunk_rows))

    def sample(self, rows: int):
        return self.design.block(next(iter_frames(self.source, self.design.columns(), rows)))


def _apply(frame, design: FrameDesign, fn: Callable) -> dict:
    return fn(sort_by_cell(design.block(frame)))


@contextlib.contextmanager
def dask_client(address: str | None, workers: int, where: str = "dask") -> Iterator:
    """A distributed Client on the scheduler at `address`, or on a LocalCluster of `workers`
    single-threaded worker processes, closed afterwards. ConnectionError naming the address."""
    from distributed import Client, LocalCluster

    if address:
        try:
            client = Client(address, timeout="20s")
        except Exception as exc:
            raise ConnectionError(f"{where}: cannot reach the Dask scheduler at {address!r} "
                                  f"({type(exc).__name__})") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0) as cluster, Client(cluster) as client:
        log.info("dask: LocalCluster with %d single-threaded workers", workers)
        yield client


class DaskEngine:
    """The engine protocol over dask partitions (one per file)."""

    def __init__(self, source: ParquetDataset, design: FrameDesign, client, split_every: int = 8):
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
