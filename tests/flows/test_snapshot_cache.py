"""The snapshot step is cached by the source's content: unchanged data is not snapshotted twice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import make_project

pytestmark = pytest.mark.slow


def test_unchanged_source_is_snapshotted_once(tmp_path, monkeypatch, prefect_server):
    from prefect import flow

    from flows.snapshot_cache import cached_snapshot
    from tasks.data.snapshot import read_source
    from whyflow.spec import load_spec

    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    from tasks.data import fingerprint

    storage = tmp_path / "prefect-storage"
    project = make_project(tmp_path / "project", tmp_path / "remote", coupon_rows=500)
    spec = load_spec(project / "params.yaml", "coupon_618")
    made = []
    real = fingerprint.snapshot_data
    monkeypatch.setattr(fingerprint, "snapshot_data", lambda frame, spec: made.append(1) or real(frame, spec))

    @flow
    def snap_twice():
        first = cached_snapshot(read_source(spec), spec)
        second = cached_snapshot(read_source(spec), spec)
        return first, second

    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: storage}):
        first, second = snap_twice()
    assert len(made) == 1 and any(storage.iterdir())  # the cache record lives in this test's storage
    assert second.md5 == first.md5 and second.frame.equals(first.frame)

    # the snapshot file is gone (data/snapshots is not in git): the rows come back from DVC by md5
    Path(first.path).chmod(0o644)
    Path(first.path).unlink()
    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: storage}):
        _, again = snap_twice()
    assert len(made) == 1 and again.md5 == first.md5 and again.frame.equals(first.frame)

    # new content, new snapshot
    source = project / "data/raw/coupon_618.parquet"
    frame = pd.read_parquet(source)
    frame.loc[0, "gmv"] += 1.0
    frame.to_parquet(source, index=False)
    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: storage}):
        changed, _ = snap_twice()
    assert len(made) == 2 and changed.md5 != first.md5
