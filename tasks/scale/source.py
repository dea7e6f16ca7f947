"""Large sources read in chunks: a directory or glob of Parquet files, or a SQL query in chunks.

Chunks are DataFrames of the needed columns only, indexed by the global row number (files in
sorted path order), so row-based folds and samples do not depend on the chunk size or the engine.
choose_engine decides between the in-memory path and streaming from the spec's engine key and an
estimate of the in-memory footprint against memory_budget_gb.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from estimators.streaming import FrameDesign, reduce_stats
from whyflow.errors import DataError, SpecError
from whyflow.spec import AnalysisSpec

__all__ = ["StreamSource", "EnginePlan", "is_dataset_path", "open_source", "iter_frames", "pieces", "read_piece",
           "SourceEngine", "choose_engine", "STREAMING_ESTIMATORS", "BYTES_PER_CELL"]

log = logging.getLogger(__name__)
STREAMING_ESTIMATORS = ("stream_linear_regression", "stream_linear_dml", "stream_aipw")
# pandas frame + float design + the estimators' copies, per cell, measured on the demo (about 6 x 8 bytes)
BYTES_PER_CELL = 48


@dataclass(frozen=True)
class StreamSource:
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


@dataclass(frozen=True)
class EnginePlan:
    kind: str  # memory | stream | dask
    estimators: list[str]
    rows: int | None
    estimated_gb: float | None
    reason: str


def is_dataset_path(text: str) -> bool:
    """A directory (no suffix) or a glob: read as a partitioned dataset."""
    return glob.has_magic(text) or Path(text).suffix == ""


def _glob_root(pattern: Path) -> Path:
    parts = []
    for part in pattern.parts:
        if glob.has_magic(part):
            break
        parts.append(part)
    return Path(*parts)


def open_source(spec: AnalysisSpec) -> StreamSource:
    """The dataset's files and schema from Parquet metadata (no data read); one-line DataError if wrong."""
    import pyarrow.parquet as pq

    text = spec.data.path
    where = f"analysis '{spec.name}'"
    if text is None:
        raise DataError(f"{where}: streaming needs data.path (a Parquet directory or glob); "
                        "a SQL source is snapshotted to Parquet first")
    path = spec.resolve(text)
    if glob.has_magic(text):
        files, root = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file()), _glob_root(path)
        if not files:
            raise DataError(f"{where}: data.path glob {text!r} matches no files")
    elif path.is_dir():
        files, root = sorted(p for p in path.rglob("*.parquet") if not p.name.startswith((".", "_"))), path
        if not files:
            raise DataError(f"{where}: data directory {text!r} has no .parquet files")
    elif path.is_file():
        files, root = [path], path.parent
    else:
        raise DataError(f"{where}: data path {text!r} not found")
    rows, schema, categorical = [], None, set()
    for file in files:
        try:
            meta = pq.ParquetFile(file)
        except Exception as exc:
            raise DataError(f"{where}: {str(file.relative_to(root))!r} in {text!r} is not Parquet "
                            f"({str(exc).splitlines()[0][:120]})") from None
        arrow = meta.schema_arrow
        names = {f.name: str(f.type) for f in arrow if f.name != "__index_level_0__"}
        if schema is None:
            schema = names
            categorical = {f.name for f in arrow if str(f.type).startswith(("dictionary", "string", "large_string", "bool"))}
        elif set(names) != set(schema):
            raise DataError(f"{where}: {str(file.relative_to(root))!r} has columns {sorted(names)}, "
                            f"the first file {sorted(schema)}; all files of a dataset must have the same columns")
        rows.append(meta.metadata.num_rows)
    return StreamSource(tuple(files), root, tuple(rows), schema, spec.data.describe(), frozenset(categorical))


def iter_frames(source: StreamSource, columns: list[str], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """Record batches of the needed columns, in file order, as frames indexed by global row number."""
    import pyarrow.dataset as ds

    dataset = ds.dataset([str(f) for f in source.files], format="parquet")
    offset = 0
    for batch in dataset.to_batches(columns=columns, batch_size=chunk_rows, use_threads=False):
        frame = batch.to_pandas()
        frame.index = pd.RangeIndex(offset, offset + len(frame))
        offset += len(frame)
        yield frame


def pieces(source: StreamSource) -> list[tuple[str, int]]:
    """(file, first global row) per file: what one Dask partition reads."""
    starts = np.concatenate([[0], np.cumsum(source.file_rows)[:-1]]).astype(int)
    return [(str(f), int(s)) for f, s in zip(source.files, starts)]


def read_piece(piece: tuple[str, int], columns: list[str]) -> pd.DataFrame:
    import pyarrow.parquet as pq

    path, start = piece
    frame = pq.read_table(path, columns=columns, use_threads=False).to_pandas()
    frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


class SourceEngine:
    """Single-process engine: every pass reads the files chunk by chunk (memory: one chunk)."""

    def __init__(self, source: StreamSource, design: FrameDesign, chunk_rows: int = 1_000_000):
        self.source, self.design, self.chunk_rows = source, design, chunk_rows
        self.layout = design.layout
        self.passes = 0

    def map_reduce(self, fn: Callable) -> dict:
        self.passes += 1
        return reduce_stats(fn(self.design.block(frame)) for frame in
                            iter_frames(self.source, self.design.columns(), self.chunk_rows))

    def sample(self, rows: int):
        return self.design.block(next(iter_frames(self.source, self.design.columns(), rows)))


def choose_engine(spec: AnalysisSpec, requested: list[str] | None = None) -> EnginePlan:
    """memory, stream or dask for this spec; SpecError naming the streaming alternatives when the
    data must stream and a requested estimator cannot."""
    from estimators import registry

    requested = spec.estimators if requested is None else requested
    kind, rows, gb = spec.engine, None, None
    dataset = spec.data.path is not None and is_dataset_path(spec.data.path)
    if dataset or kind in ("stream", "dask"):  # single files keep the in-memory path's own checks
        if spec.data.path is not None and (dataset or spec.resolve(spec.data.path).suffix == ".parquet"):
            source = open_source(spec)
            rows = source.rows
            gb = rows * len(source.schema) * BYTES_PER_CELL / 2**30  # every column: the graph may need them all
    if kind == "auto":
        kind = "stream" if dataset and gb is not None and gb > spec.memory_budget_gb else "memory"
        reason = (f"{rows:,} rows need about {gb:.1f} GB in memory, over memory_budget_gb {spec.memory_budget_gb}"
                  if kind == "stream" else "fits the memory budget")
    else:
        reason = f"engine: {kind} in the spec"
    if kind == "memory":
        return EnginePlan("memory", list(requested or registry.recommended(spec.treatment_type)), rows, gb, reason)
    if spec.treatment_type != "binary" and requested is None:
        requested = ["stream_linear_regression", "stream_linear_dml"]
    if spec.overlap.trim != "none" or spec.overlap.propensity_model != "logistic":
        raise SpecError(f"analysis '{spec.name}': streaming ({reason}) supports overlap.trim: none and "
                        f"overlap.propensity_model: logistic; got {spec.overlap.trim!r}, {spec.overlap.propensity_model!r}")
    names = list(requested or STREAMING_ESTIMATORS)
    blocked = [n for n in names if not registry.get(n).streams]
    if blocked:
        raise SpecError(f"analysis '{spec.name}': estimator(s) {blocked} cannot stream ({reason}); "
                        f"use the streaming estimators {list(STREAMING_ESTIMATORS)} or set engine: memory")
    return EnginePlan(kind, names, rows, gb, reason)
