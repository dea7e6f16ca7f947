"""The source fingerprint behind the snapshot cache: content counts, names and timestamps do not."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from tasks.data.fingerprint import frame_fingerprint, snapshot_cache_key, source_fingerprint
from whyflow.errors import DataError
from whyflow.spec import load_spec

PARAMS = """\
analyses:
  a:
    data: {path: data.csv}
    treatment: t
    outcome: y
    confounders: [x]
  b:
    data: {path: data.csv}
    treatment: t
    outcome: y
    confounders: [x]
  warehouse:
    data: {sql: {url: "sqlite:///w.db", query: "select * from units where day = :day", params: {day: 1}}}
    treatment: t
    outcome: y
    confounders: [x]
"""


@pytest.fixture
def params(tmp_path):
    (tmp_path / "params.yaml").write_text(PARAMS)
    (tmp_path / "data.csv").write_text("t,y,x\n0,1.0,2\n1,2.5,3\n")
    return tmp_path / "params.yaml"


def test_file_fingerprint_follows_the_bytes_not_the_timestamp(params):
    spec = load_spec(params, "a")
    before = source_fingerprint(spec)
    os.utime(params.parent / "data.csv", (1_000_000, 1_000_000))
    assert source_fingerprint(spec) == before
    (params.parent / "data.csv").write_text("t,y,x\n0,1.0,2\n1,2.6,3\n")
    assert source_fingerprint(spec) != before


def test_directory_source_fingerprint_covers_every_file(tmp_path):
    from tasks.data.fingerprint import _path_fingerprint

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "part-0.parquet").write_bytes(b"one")
    first = _path_fingerprint(tmp_path / "d")
    (tmp_path / "d" / "part-1.parquet").write_bytes(b"two")
    assert _path_fingerprint(tmp_path / "d") != first


def test_sql_fingerprint_is_the_rows_read_not_the_query(params):
    spec = load_spec(params, "warehouse")
    frame = pd.DataFrame({"t": [0, 1], "y": [1.0, 2.5], "x": [2, 3]})
    changed = frame.assign(y=[1.0, 2.6])
    assert source_fingerprint(spec, frame) == source_fingerprint(spec, frame.copy())
    assert source_fingerprint(spec, frame) != source_fingerprint(spec, changed)
    assert frame_fingerprint(frame) != frame_fingerprint(frame.astype({"x": "float64"}))
    with pytest.raises(ValueError, match="fingerprinted by its rows"):
        source_fingerprint(spec)


def test_cache_key_separates_analyses_and_projects(params, tmp_path):
    assert snapshot_cache_key(load_spec(params, "a")) != snapshot_cache_key(load_spec(params, "b"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "params.yaml").write_text(PARAMS)
    (other / "data.csv").write_text((params.parent / "data.csv").read_text())
    assert snapshot_cache_key(load_spec(other / "params.yaml", "a")) != snapshot_cache_key(load_spec(params, "a"))


def test_missing_file_source_is_a_data_error(params):
    (params.parent / "data.csv").unlink()
    with pytest.raises(DataError, match="analysis 'a': data file 'data.csv' not found"):
        source_fingerprint(load_spec(params, "a"))
