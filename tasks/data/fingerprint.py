"""A cheap fingerprint of a data source's content, so an unchanged source is not snapshotted twice.

What counts as "the same data":
- a file source: the md5 of the file's bytes (a directory: the md5 of every file under it, with its
  relative path), read in 1 MiB blocks; the file's name or timestamp do not matter.
- a SQL source: the query, its bound parameters and the URL are NOT the content: the same query
  returns new rows when the table changes. A database-side checksum is not portable across
  SQLAlchemy dialects, so the fingerprint hashes the rows as read (pandas' vectorised row hash, plus
  column names and dtypes). The flow reads the source before the snapshot step anyway (to validate
  it), so this costs one pass over memory, not a second query.

The cache key adds the project folder, the analysis name and the described source, because the
snapshot step writes under the project and records where the data came from.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from tasks.data.snapshot import Snapshot, SnapshotRecord, fetch_snapshot, file_md5, snapshot_data
from whyflow.errors import DataError
from whyflow.spec import AnalysisSpec

__all__ = ["source_fingerprint", "frame_fingerprint", "snapshot_cache_key", "snapshot_record",
           "snapshot_from_record"]


def _path_fingerprint(path: Path) -> str:
    if path.is_file():
        return file_md5(path)
    digest = hashlib.md5()
    for child in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{child.relative_to(path).as_posix()}\0{file_md5(child)}\n".encode())
    return digest.hexdigest()


def frame_fingerprint(frame: pd.DataFrame) -> str:
    """sha256 over the rows' values (row order counts), the column names and the dtypes."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def source_fingerprint(spec: AnalysisSpec, frame: pd.DataFrame | None = None) -> str:
    """Content fingerprint of the declared source (see the module note for what counts)."""
    if spec.data.path is not None:
        path = spec.resolve(spec.data.path)
        if not path.exists():
            raise DataError(f"analysis '{spec.name}': data file {spec.data.path!r} not found")
        return f"file-md5:{_path_fingerprint(path)}"
    if frame is None:
        raise ValueError(f"analysis '{spec.name}': a SQL source is fingerprinted by its rows; pass the frame read")
    return f"rows-sha256:{frame_fingerprint(frame)}"


def snapshot_cache_key(spec: AnalysisSpec, frame: pd.DataFrame | None = None) -> str:
    """The snapshot step's cache key: project, analysis, described source and content fingerprint."""
    parts = [str(spec.base_dir.resolve()), spec.name, spec.data.describe(), source_fingerprint(spec, frame)]
    return "snapshot-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()


def snapshot_record(frame: pd.DataFrame, spec: AnalysisSpec) -> SnapshotRecord:
    """Snapshot the frame (Parquet + DVC) and return what identifies the snapshot."""
    snap = snapshot_data(frame, spec)
    return snap.record()


def snapshot_from_record(record: SnapshotRecord | dict, spec: AnalysisSpec) -> Snapshot:
    """The snapshot a record names, read back from its file (or from DVC by md5 when the file is gone
    or altered); DataError when neither has it, so the caller can snapshot afresh."""
    fields = record if isinstance(record, dict) else asdict(record)
    path = Path(fields["path"])
    if not path.is_file() or file_md5(path) != fields["md5"]:
        path = fetch_snapshot(fields["md5"], spec.base_dir)
    frame = pd.read_parquet(path)
    return Snapshot(md5=fields["md5"], path=str(path), rows=len(frame),
                    schema={column: str(dtype) for column, dtype in frame.dtypes.items()},
                    source=fields["source"], remote=fields["remote"], frame=frame)
