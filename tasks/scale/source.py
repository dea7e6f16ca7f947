"""Large sources: a directory or glob of Parquet files opened from their metadata (no data read),
and the choice between the in-memory path and streaming, from the spec's engine key and an estimate
of the in-memory footprint against memory_budget_gb. Reading happens in estimators/streaming/engines.py.
"""

from __future__ import annotations

import glob
import logging
from dataclasses import dataclass
from pathlib import Path

from estimators.streaming.engines import ParquetDataset
from whyflow.errors import DataError, SpecError
from whyflow.spec import AnalysisSpec

__all__ = ["EngineChoice", "is_dataset_path", "open_source", "choose_engine", "BYTES_PER_CELL"]

log = logging.getLogger(__name__)
# pandas frame + float design + the estimators' copies, per cell, measured on the demo (about 6 x 8 bytes)
BYTES_PER_CELL = 48


@dataclass(frozen=True)
class EngineChoice:
    kind: str  # memory | stream | dask
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


def open_source(spec: AnalysisSpec) -> ParquetDataset:
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
    return ParquetDataset(tuple(files), root, tuple(rows), schema, spec.data.describe(), frozenset(categorical))


def choose_engine(spec: AnalysisSpec) -> EngineChoice:
    """memory, stream or dask for this spec: the spec's engine, or (auto) streaming when a Parquet
    dataset's estimated in-memory size exceeds memory_budget_gb."""
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
    if spec.sample is not None and kind == "memory":
        raise SpecError(f"analysis '{spec.name}': key 'sample' applies to streamed runs (engine: stream or dask, or "
                        "a Parquet folder over memory_budget_gb); this analysis runs in memory")
    return EngineChoice(kind, rows, gb, reason)
