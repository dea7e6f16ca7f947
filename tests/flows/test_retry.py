"""Transient failures are retried with backoff; bad input and failed gates are not."""

from __future__ import annotations

import sqlite3

import pytest

from flows.retry import is_transient, retry_on_transient
from whyflow.errors import DataError, GateFailed, SpecError


def _raised(outer: BaseException, cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except BaseException as inner:
            raise outer from inner
    except BaseException as caught:
        return caught


@pytest.mark.parametrize("exc", [
    sqlite3.OperationalError("database is locked"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError("read timed out"),
])
def test_transient_errors_are_retried(exc):
    assert is_transient(exc)


def test_mlflow_wrapping_of_a_locked_sqlite_file_is_transient():
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

    wrapped = _raised(MlflowException("(sqlite3.OperationalError) database is locked",
                                      error_code=TEMPORARILY_UNAVAILABLE), sqlite3.OperationalError("database is locked"))
    assert is_transient(wrapped)


def test_unreachable_tracking_server_is_transient():
    import requests
    from mlflow.exceptions import MlflowException

    cause = requests.exceptions.ConnectionError("HTTPConnectionPool(host='127.0.0.1', port=5999): Max retries exceeded")
    assert is_transient(_raised(MlflowException("API request to http://127.0.0.1:5999/api/2.0/mlflow/runs/create "
                                                "failed with exception"), cause))


@pytest.mark.parametrize("exc", [
    SpecError("analysis 'x': key 'seed': must be >= 0; got -1"),
    DataError("analysis 'x': data file 'a.parquet' not found"),
    GateFailed("overlap gate failed: common support 0.71 < 0.9"),
    ValueError("could not convert string to float"),
    sqlite3.OperationalError("no such table: runs"),
])
def test_deterministic_errors_are_not_retried(exc):
    assert not is_transient(exc)


def test_whyflow_error_is_not_retried_even_when_a_transient_error_caused_it():
    assert not is_transient(_raised(DataError("analysis 'x': reading data.sql failed: database is locked"),
                                    sqlite3.OperationalError("database is locked")))


def test_condition_function_reads_the_exception_from_the_failed_state():
    from prefect.states import Failed

    assert retry_on_transient(None, None, Failed(data=sqlite3.OperationalError("database is locked")))
    assert not retry_on_transient(None, None, Failed(data=GateFailed("quality gate failed")))


def _spec(tmp_path):
    from tests.conftest import PARAMS
    from whyflow.spec import load_spec

    (tmp_path / "params.yaml").write_text(PARAMS)
    return load_spec(tmp_path / "params.yaml", "coupon_618")


@pytest.mark.slow
@pytest.mark.parametrize("error, calls, succeeds", [
    (sqlite3.OperationalError("database is locked"), 2, True),
    (DataError("analysis 'coupon_618': bad"), 1, False),
])
def test_record_step_retries_only_transient_failures(tmp_path, monkeypatch, prefect_server, error, calls, succeeds):
    from prefect import flow

    from flows.steps import record_failure_t
    from tasks.record import tracking

    attempts = []

    def flaky_log_metrics(base_dir, run_id, metrics):
        attempts.append(run_id)
        if len(attempts) == 1:
            raise error

    monkeypatch.setattr(tracking, "log_metrics", flaky_log_metrics)
    monkeypatch.setattr(tracking, "log_artifacts", lambda *args, **kwargs: None)
    step = record_failure_t.with_options(retry_delay_seconds=0, retry_jitter_factor=None)
    spec = _spec(tmp_path)

    @flow
    def one_step():
        return step(spec, "run-1", {"quality": None})

    state = one_step(return_state=True)
    assert len(attempts) == calls
    assert state.is_completed() is succeeds
