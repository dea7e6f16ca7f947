"""A served model that cannot be logged never fails the run: the reason is a recorded warning; a run
with nothing to serve by design (another design, a streamed run) says so in a tag, without a warning."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from tasks.serve import log as serve_log
from whyflow import constants as C


def _store(tmp_path, empty_mlflow_db, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copy(empty_mlflow_db, tmp_path / C.DEFAULT_TRACKING_DB)
    store = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / C.DEFAULT_TRACKING_DB}")
    return store, store.create_run(store.create_experiment("demo")).info.run_id


def test_a_failure_to_log_is_a_warning_on_the_run(tmp_path, empty_mlflow_db, monkeypatch):
    store, run_id = _store(tmp_path, empty_mlflow_db, monkeypatch)

    def broken(spec, run_id, result):
        raise OSError("artifact store unreachable")

    monkeypatch.setattr(serve_log, "_log", broken)
    spec = SimpleNamespace(base_dir=tmp_path, name="demo")
    warning = serve_log.log_served_models(spec, run_id, SimpleNamespace(warnings=["a gate left at its default failed"]))
    assert warning == "served model not logged: OSError: artifact store unreachable"
    tags = store.get_run(run_id).data.tags
    assert tags[serve_log.TAG_SERVE_STATUS] == warning
    assert tags[C.TAG_WARNINGS] == "a gate left at its default failed | " + warning
    assert float(tags[serve_log.TAG_SERVE_SECONDS]) >= 0


def test_a_run_with_nothing_to_serve_is_tagged_without_a_warning(tmp_path, empty_mlflow_db, monkeypatch):
    from tasks.serve.build import NotServed

    store, run_id = _store(tmp_path, empty_mlflow_db, monkeypatch)

    def iv_design(spec, run_id, result):
        raise NotServed("only back-door designs are served; this run's design is 'iv'")

    monkeypatch.setattr(serve_log, "_log", iv_design)
    spec = SimpleNamespace(base_dir=tmp_path, name="demo")
    assert serve_log.log_served_models(spec, run_id, SimpleNamespace(warnings=[])) is None
    tags = store.get_run(run_id).data.tags
    assert tags[serve_log.TAG_SERVE_STATUS] == (
        "not served: only back-door designs are served; this run's design is 'iv'")
    assert C.TAG_WARNINGS not in tags


def test_the_switch_turns_logging_off(tmp_path, empty_mlflow_db, monkeypatch):
    store, run_id = _store(tmp_path, empty_mlflow_db, monkeypatch)
    monkeypatch.setenv(serve_log.ENV_SWITCH, "0")
    monkeypatch.setattr(serve_log, "_log", lambda *args: pytest.fail("logged although switched off"))
    assert serve_log.log_served_models(SimpleNamespace(base_dir=tmp_path, name="demo"), run_id,
                                       SimpleNamespace(warnings=[])) is None
    assert store.get_run(run_id).data.tags[serve_log.TAG_SERVE_STATUS] == "not served: WHYFLOW_SERVE_MODELS=0"
