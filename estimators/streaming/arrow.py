"""Blocks straight from Arrow, and the engine that uses both cores: passes over Parquet row groups in
worker processes, statistics merged in row-group order.

Reading: only the needed columns of one row group, kept in their stored type (int8 treatment, float32
counts, dictionary-encoded levels) until they are written once into the float64 design [1, W]; no
pandas frame. Rows of a block are grouped by cell (fold x treatment arm), so per-fold and per-arm
sums are contiguous slices (`Block.cells`); sums do not depend on row order beyond rounding.

Merging: every row group's statistics are computed by one function call wherever it runs and the
results are combined in row-group order, so the merged statistics are the same whatever the number
of workers or the order in which they finish (bit-identical to the one-process engine, which runs the
same per-row-group reduction).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from estimators.streaming.blocks import (MAX_FOLDS, Block, FrameDesign, Stats, fold_of, reduce_stats, sort_by_cell,
                                        unit_hash)

__all__ = ["Piece", "row_group_pieces", "decode", "RowGroups", "ParallelEngine", "read_piece_table", "block_stats"]


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Piece:
    """One Parquet row group and the global row number of its first row."""

    path: str
    row_group: int
    start: int
    rows: int


def row_group_pieces(files) -> list[Piece]:
    import pyarrow.parquet as pq

    out, start = [], 0
    for path in files:
        meta = pq.ParquetFile(path).metadata
        for i in range(meta.num_row_groups):
            rows = meta.row_group(i).num_rows
            out.append(Piece(str(path), i, start, rows))
            start += rows
    return out


def read_piece_table(piece: Piece, columns: list[str]):
    import pyarrow.parquet as pq

    return pq.ParquetFile(piece.path).read_row_group(piece.row_group, columns=columns, use_threads=False)


def _numeric(column) -> np.ndarray:
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return array.to_numpy(zero_copy_only=False)


def _codes(column, name: str, levels: list[str]) -> np.ndarray:
    """Codes into `levels` of a dictionary or text column (other types: through pandas, as FrameDesign)."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        index = {lv: i for i, lv in enumerate(levels)}
        lut = np.array([index.get(str(v), -1) for v in array.dictionary.to_pylist()] + [-1], dtype=np.int64)
        codes = lut[array.indices.to_numpy(zero_copy_only=False).astype(np.int64)]
    else:
        import pandas as pd

        codes = FrameDesign.level_codes(pd.Series(array.to_pandas()), name, levels)
    if (codes < 0).any():
        raise ValueError(f"column {name!r} has a value outside the levels found by the scan")
    return codes


def _fill(U: np.ndarray, at: int, table, column: str, design: FrameDesign, order: np.ndarray) -> int:
    """Write one column, rows in `order`, into the design from position `at` (dummies for categorical columns)."""
    if column in design.levels:
        levels = design.levels[column]
        codes = _codes(table.column(column), column, levels)[order]
        U[:, at:at + len(levels) - 1] = 0.0
        hit = np.flatnonzero(codes > 0)
        U[hit, at + codes[hit] - 1] = 1.0
        return at + len(levels) - 1
    U[:, at] = _numeric(table.column(column))[order]
    return at + 1


def decode(table, start: int, design: FrameDesign) -> Block:
    """The Block FrameDesign.block would build from this table (global rows from `start`), rows grouped
    by cell = fold * 2 + arm. Tables with missing values go through the pandas path (rows dropped)."""
    used = list(dict.fromkeys([design.treatment, design.outcome, *design.covariates, *design.segments, *design.extras]))
    if any(table.column(c).null_count for c in used):
        import pandas as pd

        frame = table.to_pandas()
        frame.index = pd.RangeIndex(start, start + len(frame))
        return sort_by_cell(design.block(frame))
    n = table.num_rows
    width = len(design.layout.w_names)
    t = _numeric(table.column(design.treatment))
    keys = _numeric(table.column(design.unit_id)) if design.unit_id else np.arange(start, start + n)
    hashed = unit_hash(keys, design.seed)
    fold = fold_of(None, design.seed, design.folds, hashed)
    cell = fold * np.int8(2) + (t == 1)
    kept = design.sampled(hashed)
    if kept is None:
        order = np.argsort(cell, kind="stable")
    else:  # the spec's sample: only the kept rows, grouped by cell
        rows = np.flatnonzero(kept)
        order = rows[np.argsort(cell[rows], kind="stable")]
    n = order.size
    # [1, W, t, y] column by column (Fortran order: each column written contiguously, Grams read it as is)
    A = np.empty((n, width + 3), order="F")
    A[:, 0] = 1.0
    at = 1
    for column in design.covariates:
        at = _fill(A, at, table, column, design, order)
    A[:, width + 1] = t[order]
    A[:, width + 2] = _numeric(table.column(design.outcome))[order]
    X = np.empty((n, len(design.layout.x_names)), order="F")
    at_x = 0
    for column in design.modifiers:
        at_x = _fill(X, at_x, table, column, design, order)
    block = Block(y=A[:, width + 2], t=A[:, width + 1], W=A[:, 1:width + 1], X=X, fold=fold[order],
                  hash=hashed[order], seg={s: _codes(table.column(s), s, design.segment_levels[s])[order]
                                           for s in design.segments},
                  extra={c: _numeric(table.column(c))[order].astype(float) for c in design.extras})
    block.__dict__.update(A=A, U=A[:, :width + 1],
                          cells=np.searchsorted(cell[order], np.arange(2 * MAX_FOLDS + 1)))
    return block


def block_stats(piece: Piece, design: FrameDesign, fn: Callable[[Block], Stats], chunk_rows: int,
                columns: list[str]) -> Stats:
    """fn over one row group, cut into blocks of chunk_rows, reduced in row order."""
    table = read_piece_table(piece, columns)
    parts = []
    for offset in range(0, table.num_rows, chunk_rows):
        parts.append(fn(decode(table.slice(offset, chunk_rows), piece.start + offset, design)))
    return reduce_stats(parts)


def _run(job: tuple) -> Stats:
    kind, piece, payload = job
    if kind == "block":
        design, fn, chunk_rows, columns = payload
        return block_stats(piece, design, fn, chunk_rows, columns)
    fn, columns = payload
    return fn(read_piece_table(piece, columns), piece.start)


_PRELOAD = ["numpy", "pyarrow.parquet", "estimators.streaming.arrow", "estimators.streaming.passes"]


def _worker_init() -> None:
    """One thread per worker (whyflow.parallel), and glibc told to keep freed memory for reuse: every
    block allocates the same large temporaries, and fresh pages from the kernel cost more than the
    arithmetic on them (measured: the logistic pass 2.5x faster per block)."""
    import ctypes

    from whyflow.parallel import one_thread_worker

    one_thread_worker()
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 2**30)  # M_MMAP_THRESHOLD: large arrays from the heap, not fresh mappings
        libc.mallopt(-1, 2**31)  # M_TRIM_THRESHOLD: keep freed heap memory
    except (OSError, AttributeError):  # not glibc: the defaults only cost time
        pass


class RowGroups:
    """The row groups of a Parquet dataset and the worker processes that read them; lives across passes
    (use as a context manager). Results come back merged in row-group order, so they do not depend on
    the number of workers."""

    def __init__(self, source, workers: int = 2):
        self.source = source
        self.workers = max(1, int(workers))
        self.pieces = row_group_pieces(source.files)
        self.passes = 0
        self._pool = None

    def __enter__(self) -> RowGroups:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def run(self, kind: str, payload: tuple) -> Stats:
        self.passes += 1
        jobs = [(kind, piece, payload) for piece in self.pieces]
        if self.workers <= 1 or len(jobs) <= 1:
            return reduce_stats(_run(job) for job in jobs)
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # a clean forkserver (not a fork of a process running Prefect's threads) that preloads only what
            # the passes use: whyflow.parallel's preload imports EconML, seconds of both cores for nothing here
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context, initializer=_worker_init)
        return reduce_stats(self._pool.map(_run, jobs))

    def map_tables(self, fn: Callable, columns: list[str]) -> Stats:
        """fn(table, first global row) over every row group's `columns`, merged in row-group order."""
        return self.run("table", (fn, columns))


class ParallelEngine:
    """The engine protocol over Parquet row groups read by RowGroups' worker processes (one process
    when workers is 1): each row group is cut into blocks of chunk_rows."""

    def __init__(self, groups: RowGroups, design: FrameDesign, chunk_rows: int = 250_000):
        self.groups, self.design, self.chunk_rows = groups, design, max(1, int(chunk_rows))
        self.layout = design.layout
        self.passes = 0

    @property
    def pieces(self) -> list[Piece]:
        return self.groups.pieces

    def columns(self) -> list[str]:
        return self.design.columns()

    def map_reduce(self, fn: Callable[[Block], Stats]) -> Stats:
        """fn over every block, merged in row-group order (independent of the worker count)."""
        self.passes += 1
        return self.groups.run("block", (self.design, fn, self.chunk_rows, self.columns()))

    def blocks(self) -> Iterator[Block]:
        for piece in self.pieces:
            table = read_piece_table(piece, self.columns())
            for offset in range(0, table.num_rows, self.chunk_rows):
                yield decode(table.slice(offset, self.chunk_rows), piece.start + offset, self.design)

    def sample(self, rows: int) -> Block:
        """The first `rows` rows (the warm start of the logistic models)."""
        parts, have = [], 0
        for piece in self.pieces:
            table = read_piece_table(piece, self.columns())
            parts.append(decode(table.slice(0, rows - have), piece.start, self.design))
            have += parts[-1].n
            if have >= rows:
                break
        if len(parts) == 1:
            return parts[0]
        return Block(y=np.concatenate([p.y for p in parts]), t=np.concatenate([p.t for p in parts]),
                     W=np.vstack([p.W for p in parts]), X=np.vstack([p.X for p in parts]),
                     fold=np.concatenate([p.fold for p in parts]), hash=np.concatenate([p.hash for p in parts]),
                     seg={k: np.concatenate([p.seg[k] for p in parts]) for k in parts[0].seg})
