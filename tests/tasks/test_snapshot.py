import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from tasks.data.snapshot import fetch_snapshot, file_md5, read_source, snapshot_data
from whyflow.errors import DataError
from tests.conftest import PARAMS
from whyflow.spec import load_spec


def sql_spec(project: Path, **sql):
    text = PARAMS.replace(
        "data: {path: data/raw/coupon_618.parquet}", "data: " + json.dumps({"sql": sql}))
    (project / "params.yaml").write_text(text)
    return load_spec(project / "params.yaml", "coupon_618")


@pytest.fixture
def warehouse(project):
    frame = pd.read_parquet(project / "data/raw/coupon_618.parquet")
    with sqlite3.connect(project / "warehouse.db") as conn:
        frame.to_sql("campaign_users", conn, index=False)
        conn.execute("CREATE TABLE secrets (x INTEGER)")
    return frame


def test_sqlite_table_is_read(project, warehouse):
    spec = sql_spec(project, url=f"sqlite:///{project}/warehouse.db", table="campaign_users")
    pd.testing.assert_frame_equal(read_source(spec), warehouse)


def test_query_values_are_bound_parameters(project, warehouse):
    spec = sql_spec(project, url=f"sqlite:///{project}/warehouse.db",
                    query="SELECT * FROM campaign_users WHERE member_level = :level",
                    params={"level": "SVIP' OR '1'='1"})
    assert read_source(spec).empty  # the hostile value matched nothing: it was data, not SQL
    spec = sql_spec(project, url=f"sqlite:///{project}/warehouse.db",
                    query="SELECT * FROM campaign_users WHERE member_level = :level", params={"level": "SVIP"})
    assert set(read_source(spec).member_level) == {"SVIP"}


def test_unknown_table_is_a_data_error_and_touches_nothing(project, warehouse):
    spec = sql_spec(project, url=f"sqlite:///{project}/warehouse.db", table="campaign_user")
    with pytest.raises(DataError, match="data.sql.table 'campaign_user' not found"):
        read_source(spec)
    with sqlite3.connect(project / "warehouse.db") as conn:
        assert conn.execute("SELECT count(*) FROM secrets").fetchone() == (0,)


def test_missing_and_unreadable_files(project):
    spec = load_spec(project / "params.yaml", "coupon_618", ["data.path=data/raw/none.parquet"])
    with pytest.raises(DataError, match="data file 'data/raw/none.parquet' not found"):
        read_source(spec)
    (project / "data/raw/broken.parquet").write_text("not parquet")
    spec = load_spec(project / "params.yaml", "coupon_618", ["data.path=data/raw/broken.parquet"])
    with pytest.raises(DataError, match="could not be read"):
        read_source(spec)


def test_csv_source(project):
    frame = pd.read_parquet(project / "data/raw/coupon_618.parquet")
    frame.to_csv(project / "data/raw/c.csv", index=False)
    spec = load_spec(project / "params.yaml", "coupon_618", ["data.path=data/raw/c.csv"])
    assert len(read_source(spec)) == len(frame)


def test_snapshot_is_content_addressed_in_cache_and_remote(project, tmp_path):
    spec = load_spec(project / "params.yaml", "coupon_618")
    snap = snapshot_data(read_source(spec), spec)
    assert snap.md5 == file_md5(snap.path) and snap.rows == 8000
    remote_copy = tmp_path / "remote" / "files" / "md5" / snap.md5[:2] / snap.md5[2:]
    assert file_md5(remote_copy) == snap.md5
    again = snapshot_data(read_source(spec), spec)
    assert again.md5 == snap.md5  # same data, same bytes, same version
    assert snap.schema["coupon_sent"] == "int64"


def test_fetch_from_remote_after_cache_loss_and_refuse_tampered(project, tmp_path):
    import shutil

    spec = load_spec(project / "params.yaml", "coupon_618")
    snap = snapshot_data(read_source(spec), spec)
    shutil.rmtree(project / ".dvc" / "cache")
    fetched = fetch_snapshot(snap.md5, project)
    assert file_md5(fetched) == snap.md5
    fetched.chmod(0o644)
    fetched.write_bytes(b"tampered")
    with pytest.raises(DataError, match="does not match its md5"):
        fetch_snapshot(snap.md5, project)


def test_no_dvc_repository_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # neither the params file's folder nor the working directory is in one
    (tmp_path / "d.csv").write_text("t,y\n0,1\n1,2\n")
    (tmp_path / "params.yaml").write_text("analyses:\n  a: {data: {path: d.csv}, treatment: t, outcome: y, confounders: []}\n")
    spec = load_spec(tmp_path / "params.yaml", "a")
    with pytest.raises(DataError, match="no DVC repository"):
        snapshot_data(read_source(spec), spec)


def test_a_params_file_outside_the_project_uses_the_working_directorys_dvc_repository(tmp_path, monkeypatch):
    from dvc.repo import Repo

    from tasks.data.snapshot import dvc_root
    from whyflow.errors import DataError

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir(), elsewhere.mkdir()
    Repo.init(str(project), no_scm=True).close()
    monkeypatch.chdir(project)
    assert dvc_root(elsewhere) == str(project)
    assert dvc_root(project) == str(project)
    monkeypatch.chdir(elsewhere)
    with pytest.raises(DataError, match="no DVC repository at or above .* or the working directory"):
        dvc_root(elsewhere)
