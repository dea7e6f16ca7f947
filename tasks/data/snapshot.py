"""Snapshot: read the declared source once, freeze it as Parquet, and store it in DVC by its md5.

The snapshot is content-addressed: it goes into the DVC cache and the default DVC remote as an
object named by its md5 (DVC's own hash of the file), so a later run or `whyflow reproduce` can
fetch exactly these bytes by the md5 logged to MLflow. No .dvc pointer file is written, so a run
never modifies the git work tree and never takes DVC's repository lock (which `dvc repro` holds
while it runs a stage).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from whyflow.errors import DataError
from whyflow.spec import AnalysisSpec, SqlSource

__all__ = ["Snapshot", "SnapshotRecord", "read_source", "read_table", "dvc_root", "snapshot_data", "snapshot_file", "file_md5", "fetch_snapshot",
           "dataset_md5", "snapshot_dataset", "write_sql_dataset"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SnapshotRecord:
    """A snapshot's identity, not its rows: what the snapshot cache keeps (flows/snapshot_cache.py)."""

    md5: str
    path: str
    rows: int
    schema: dict[str, str]
    source: str
    remote: str


@dataclass(frozen=True)
class Snapshot(SnapshotRecord):
    """The identity and the rows."""

    frame: pd.DataFrame = field(repr=False, compare=False)

    def record(self) -> SnapshotRecord:
        return SnapshotRecord(**{k: getattr(self, k) for k in SnapshotRecord.__dataclass_fields__})


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_sql(source: SqlSource, analysis: str) -> pd.DataFrame:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(source.url)
    except Exception as exc:
        raise DataError(f"analysis '{analysis}': data.sql.url is not a usable SQLAlchemy URL ({type(exc).__name__})") from None
    try:
        with engine.connect() as conn:
            if source.table is not None:
                schema, _, name = source.table.rpartition(".")
                if not sa.inspect(conn).has_table(name, schema=schema or None):
                    raise DataError(f"analysis '{analysis}': data.sql.table {source.table!r} not found in the database")
                statement = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))
                return pd.read_sql(statement, conn)
            # Values reach the database only as bound parameters of the declared query.
            return pd.read_sql(sa.text(source.query), conn, params=dict(source.params))
    except DataError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200]
        raise DataError(f"analysis '{analysis}': reading data.sql failed: {reason}") from None
    finally:
        engine.dispose()


def read_source(spec: AnalysisSpec) -> pd.DataFrame:
    """The declared data as a DataFrame; DataError with one line when it cannot be read."""
    if spec.data.sql is not None:
        return _read_sql(spec.data.sql, spec.name)
    path = spec.resolve(spec.data.path)
    from tasks.scale.source import is_dataset_path, open_source

    if is_dataset_path(spec.data.path):  # a partitioned dataset small enough for memory
        source = open_source(spec)
        return pd.concat([pd.read_parquet(f) for f in source.files], ignore_index=True)
    return read_table(path, f"analysis '{spec.name}': data file {spec.data.path!r}")


def read_table(path: Path, what: str) -> pd.DataFrame:
    """A Parquet or CSV file as a DataFrame; DataError in one line starting with `what` when it is
    missing, of another kind, or unreadable."""
    if path.suffix.lower() not in (".parquet", ".csv"):
        raise DataError(f"{what} must end in .parquet or .csv")
    if not path.is_file():
        raise DataError(f"{what} not found")
    try:
        return pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DataError(f"{what} could not be read: {reason}") from None


def dvc_root(base_dir: Path) -> str:
    """The DVC repository of the params file's folder, else of the working directory (a params file
    kept outside the project); DataError naming both when neither is in one."""
    from dvc.repo import Repo

    for start in (Path(base_dir), Path.cwd()):
        try:
            return Repo.find_root(str(start))
        except Exception:
            continue
    raise DataError(f"no DVC repository at or above {str(base_dir)!r} (the params file's folder) or the working "
                    f"directory {str(Path.cwd())!r}; run 'dvc init' in the project")


def _dvc_repo(base_dir: Path):
    from dvc.repo import Repo

    return Repo(dvc_root(base_dir))


def _store_in_dvc(path: Path, md5: str, base_dir: Path) -> str:
    from dvc.config import NoRemoteError
    from dvc_data.hashfile.hash_info import HashInfo

    repo = _dvc_repo(base_dir)
    try:
        cache = repo.cache.local
        cache.add(str(path), cache.fs, md5)
        try:
            remote = repo.cloud.get_remote()
            result = repo.cloud.push([HashInfo("md5", md5)])
        except NoRemoteError:
            raise DataError("the DVC repository has no default remote; add one with 'dvc remote add -d NAME URL'") from None
        if result.failed:
            raise DataError(f"pushing snapshot {md5} to DVC remote {remote.name!r} failed")
        return remote.name
    finally:
        repo.close()


def _pull_verified(repo, md5: str, cache) -> None:
    """Copy one object from the default remote into the cache after checking its md5.

    Done here rather than with `dvc pull`, which deletes an object that fails verification from a
    local remote and then reports it missing: an altered snapshot is refused and left as found."""
    import tempfile

    remote = repo.cloud.get_remote_odb()
    path = remote.oid_to_path(md5)
    if not remote.fs.exists(path):
        raise DataError(f"snapshot {md5} is neither in the DVC cache nor on the default remote")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / md5
        remote.fs.get_file(path, str(local))
        if file_md5(local) != md5:
            raise DataError(f"snapshot {md5} on the DVC remote does not match its md5 (altered after it was "
                            "stored); refusing to use it")
        cache.add(str(local), cache.fs, md5)


def _cached_verified(repo, md5: str) -> Path:
    """One object of the DVC cache, pulled from the remote when missing, checked against its md5
    (a directory listing `<md5>.dir` is checked against `<md5>`)."""
    cache = repo.cache.local
    cached = Path(cache.oid_to_path(md5))
    if not cached.is_file():
        _pull_verified(repo, md5, cache)
    if file_md5(cached) != md5.removesuffix(".dir"):
        raise DataError(f"snapshot {md5} in the DVC cache does not match its md5 (changed after it was stored)")
    return cached


def fetch_snapshot(md5: str, base_dir: Path) -> Path:
    """Path of the cached snapshot with this md5, fetched from the default remote when needed. A
    streamed run's dataset (`<md5>.dir`) comes back as a folder of its Parquet files, laid out as
    when it was snapshotted (hardlinks into the cache, under .whyflow/datasets/)."""
    repo = _dvc_repo(base_dir)
    try:
        if not md5.endswith(".dir"):
            return _cached_verified(repo, md5)
        entries = json.loads(_cached_verified(repo, md5).read_text())
        folder = base_dir / ".whyflow" / "datasets" / md5
        for entry in entries:
            target = folder / entry["relpath"]
            if target.is_file():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            cached = _cached_verified(repo, entry["md5"])
            try:
                os.link(cached, target)
            except OSError:  # another filesystem
                shutil.copyfile(cached, target)
        return folder
    finally:
        repo.close()


def _stored(path: Path, md5: str, spec: AnalysisSpec) -> Snapshot:
    remote = _store_in_dvc(path, md5, spec.base_dir)
    # Downstream steps use the frame as stored, so a reproduction from DVC sees the same values.
    stored = pd.read_parquet(path)
    log.info("snapshot %s: %d rows, stored in DVC cache and remote %r", md5, len(stored), remote)
    return Snapshot(md5=md5, path=str(path), rows=len(stored),
                    schema={column: str(dtype) for column, dtype in stored.dtypes.items()},
                    source=spec.data.describe(), remote=remote, frame=stored)


def snapshot_file(path: str | Path, spec: AnalysisSpec, expected_md5: str | None = None) -> Snapshot:
    """Use an existing Parquet snapshot as it is (e.g. one fetched from DVC to reproduce a run)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"analysis '{spec.name}': snapshot file {str(path)!r} not found")
    md5 = file_md5(path)
    if expected_md5 is not None and md5 != expected_md5:
        raise DataError(f"snapshot {str(path)!r} has md5 {md5}, expected {expected_md5}")
    try:
        pd.read_parquet(path, columns=[])
    except Exception:
        raise DataError(f"analysis '{spec.name}': snapshot file {str(path)!r} is not Parquet") from None
    return _stored(path, md5, spec)


def snapshot_data(frame: pd.DataFrame, spec: AnalysisSpec) -> Snapshot:
    """Freeze the frame as Parquet, store it in DVC, and return it as read back from the snapshot."""
    directory = spec.base_dir / "data" / "snapshots" / spec.name
    directory.mkdir(parents=True, exist_ok=True)
    staging = directory / f".staging-{os.getpid()}.parquet"
    frame.to_parquet(staging, index=False)
    md5 = file_md5(staging)
    path = directory / f"{md5}.parquet"
    if path.exists():
        staging.unlink()
    else:
        staging.replace(path)
        path.chmod(0o444)
    return _stored(path, md5, spec)


def dataset_md5(files, root: Path) -> tuple[str, bytes, list[dict]]:
    """DVC's hash of a directory: md5 of the JSON listing [{"md5", "relpath"}] sorted by relpath
    (dvc-data Tree.as_bytes: json.dumps(..., sort_keys=True)) with ".dir" appended, as `dvc add` records."""
    import json

    entries = sorted(({"md5": file_md5(f), "relpath": Path(f).relative_to(root).as_posix()} for f in files),
                     key=lambda e: e["relpath"])
    listing = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(listing).hexdigest() + ".dir", listing, entries


def snapshot_dataset(source, spec: AnalysisSpec) -> Snapshot:
    """Store a Parquet dataset in DVC by its directory hash without copying it on this disk: the cache
    takes hardlinks to the files (copies only across filesystems); the push copies to the remote."""
    from dvc.config import NoRemoteError
    from dvc_data.hashfile.hash_info import HashInfo

    md5, listing, entries = dataset_md5(source.files, source.root)
    by_relpath = {Path(f).relative_to(source.root).as_posix(): str(f) for f in source.files}
    repo = _dvc_repo(spec.base_dir)
    try:
        cache = repo.cache.local
        cache.add([by_relpath[e["relpath"]] for e in entries], cache.fs, [e["md5"] for e in entries], hardlink=True)
        if not cache.exists(md5):
            cache.add_bytes(md5, listing)
        try:
            remote = repo.cloud.get_remote()
            result = repo.cloud.push([HashInfo("md5", e["md5"]) for e in entries] + [HashInfo("md5", md5)])
        except NoRemoteError:
            raise DataError("the DVC repository has no default remote; add one with 'dvc remote add -d NAME URL'") from None
        if result.failed:
            raise DataError(f"pushing dataset {md5} to DVC remote {remote.name!r} failed")
    finally:
        repo.close()
    log.info("dataset %s: %d files, %d rows, in DVC cache (hardlinks) and remote %r", md5, len(entries),
             source.rows, remote.name)
    return Snapshot(md5=md5, path=str(source.root), rows=source.rows, schema=dict(source.schema),
                    source=spec.data.describe(), remote=remote.name, frame=pd.DataFrame(columns=list(source.schema)))


def write_sql_dataset(spec: AnalysisSpec, chunk_rows: int) -> Path:
    """Read data.sql in chunks into data/snapshots/<analysis>/<md5>.dir/part-*.parquet (never the
    whole result in memory); the folder is named by its DVC directory hash."""
    import shutil
    import tempfile

    import sqlalchemy as sa

    source = spec.data.sql
    base = spec.base_dir / "data" / "snapshots" / spec.name
    base.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".sql-", dir=base))
    engine = sa.create_engine(source.url)
    try:
        with engine.connect() as conn:
            statement = (sa.select(sa.text("*")).select_from(sa.table(source.table)) if source.table
                         else sa.text(source.query))
            params = None if source.table else dict(source.params)
            for i, chunk in enumerate(pd.read_sql(statement, conn, params=params, chunksize=chunk_rows)):
                chunk.to_parquet(staging / f"part-{i:05d}.parquet", index=False)
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"analysis '{spec.name}': reading data.sql in chunks failed: {str(exc).splitlines()[0][:200]}") from None
    finally:
        engine.dispose()
    files = sorted(staging.glob("*.parquet"))
    if not files:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"analysis '{spec.name}': the data source {spec.data.describe()!r} has no rows")
    md5 = dataset_md5(files, staging)[0]
    final = base / md5
    if final.exists():
        shutil.rmtree(staging)
    else:
        staging.replace(final)
    return final
