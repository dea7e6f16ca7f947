"""Fan-out on a two-worker local Dask cluster gives the same estimates, bit for bit, as running the
analyses one by one."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import git, make_project

pytestmark = pytest.mark.slow

# Small and quick, but every step of the flow: two analyses of the demo data with their own seeds.
ANALYSIS = """\
    data: {path: data/raw/coupon_618.parquet}
    treatment: coupon_sent
    outcome: gmv
    graph: data/graphs/coupon_618.dot
    estimators: [linear_regression, ipw]
    refuters: [placebo]
    refute_simulations: 2
"""
PARAMS = f"analyses:\n  first:\n{ANALYSIS}    seed: 1\n  second:\n{ANALYSIS}    seed: 2\n"
FIELDS = ("estimator", "ate", "ci_low", "ci_high", "std_error", "p_value", "n", "status")


def estimates(outcome: dict) -> list[tuple]:
    return [tuple(e[f] for f in FIELDS) for e in outcome["results"]["estimates"]]


def test_dask_fan_out_equals_sequential_runs(tmp_path, monkeypatch, prefect_server, empty_mlflow_db):
    from flows.analysis import analysis
    from flows.fanout import run_many

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("WHYFLOW_DASK_ADDRESS", raising=False)
    monkeypatch.setenv("WHYFLOW_WORKERS", "1")
    project = make_project(tmp_path / "project", tmp_path / "remote", coupon_rows=2000)
    (project / "params.yaml").write_text(PARAMS)
    git(project, "commit", "-qam", "two analyses")
    shutil.copy(empty_mlflow_db, project / "mlflow.db")
    params = str(project / "params.yaml")

    fanned = run_many(["first", "second"], params, workers=2)
    assert [o["analysis"] for o in fanned] == ["first", "second"]
    assert [o["status"] for o in fanned] == ["ok", "ok"], [o["error"] for o in fanned]
    for outcome in fanned:
        sequential = analysis(analysis=outcome["analysis"], params_file=params)
        assert estimates(outcome) == estimates(sequential)  # exact equality, floats included
        assert outcome["results"]["versions"] == sequential["results"]["versions"]
        assert outcome["run_id"] != sequential["run_id"]
        assert all(e[-1] == "ok" for e in estimates(outcome))


def test_an_address_selects_an_existing_cluster(monkeypatch):
    from flows.fanout import dask_task_runner

    monkeypatch.setenv("WHYFLOW_DASK_ADDRESS", "tcp://10.0.0.5:8786")
    assert dask_task_runner().address == "tcp://10.0.0.5:8786"
    assert dask_task_runner("tcp://127.0.0.1:9999").address == "tcp://127.0.0.1:9999"
    monkeypatch.delenv("WHYFLOW_DASK_ADDRESS")
    local = dask_task_runner(workers=2)
    assert local.address is None and local.cluster_kwargs["n_workers"] == 2
