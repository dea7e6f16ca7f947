"""The snapshot step, cached by the source's content (tasks/fingerprint.py says what counts).

An unchanged source maps to the same cache key, so a re-run reads the stored snapshot back instead
of writing Parquet, hashing it and pushing it to DVC again. The cache keeps only the snapshot's
identity (md5, path, schema); the rows come from the content-addressed file or from DVC by md5.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.retry import retry_options
from tasks.data import fingerprint
from tasks.data.snapshot import Snapshot
from whyflow.errors import DataError
from whyflow.spec import AnalysisSpec

__all__ = ["cached_snapshot", "snapshot_record_t"]

log = logging.getLogger(__name__)


def _cache_key(context: Any, parameters: dict[str, Any]) -> str:
    return fingerprint.snapshot_cache_key(parameters["spec"], parameters["frame"])


# persist_result: Prefect keeps a cached value as a result file in its local storage
# (PREFECT_LOCAL_STORAGE_PATH); the record is a few hundred bytes. The DVC push may meet a remote
# that is briefly unreachable, hence the transient retries.
snapshot_record_t = task(fingerprint.snapshot_record, name="snapshot", cache_key_fn=_cache_key, persist_result=True,
                         **retry_options())
_load_t = task(fingerprint.snapshot_from_record, name="snapshot-load", cache_policy=NO_CACHE)


def cached_snapshot(frame: pd.DataFrame, spec: AnalysisSpec) -> Snapshot:
    """The snapshot of this frame: from the cache when the source is unchanged, else made now."""
    record = snapshot_record_t(frame, spec)
    try:
        return _load_t(record, spec)
    except DataError as exc:
        # The cached snapshot is gone from both the work tree and DVC (e.g. a fresh clone with the
        # same Prefect home): snapshot again and overwrite the cache entry.
        log.warning("cached snapshot unusable (%s); snapshotting again", exc)
        record = snapshot_record_t.with_options(refresh_cache=True)(frame, spec)
        return _load_t(record, spec)
