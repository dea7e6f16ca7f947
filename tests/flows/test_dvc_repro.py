"""`dvc repro` parses and runs for any valid spec: a drawn graph, a confounders list, a SQL source."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import clone_repository, git

pytestmark = pytest.mark.slow

MIXED = """\
analyses:
  drawn:                               # a graph file
    data: {path: data/raw/churn.parquet}
    treatment: coupon_sent
    outcome: churned
    graph: data/graphs/churn.dot
    estimators: [linear_regression, ipw]
    refuters: [placebo]
    refute_simulations: 2
    seed: 7
  listed:                              # no graph: a confounders list
    data: {path: data/raw/churn.parquet}
    treatment: coupon_sent
    outcome: churned
    confounders: [days_since_order, complaints, tenure_months]
    estimators: [linear_regression, ipw]
    refuters: [placebo]
    refute_simulations: 2
    seed: 7
  warehouse:                           # no data file of its own: a SQL table (and no graph)
    data: {sql: {url: "sqlite:///data/warehouse.db", table: churn_users}}
    treatment: coupon_sent
    outcome: churned
    confounders: [days_since_order, complaints, tenure_months]
    estimators: [linear_regression, ipw]
    refuters: [placebo]
    refute_simulations: 2
    seed: 7
"""


@pytest.fixture
def mixed(tmp_path, monkeypatch, prefect_api_url):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_API_URL", prefect_api_url)
    root = clone_repository(tmp_path / "clone", tmp_path / "remote")
    (root / "params.yaml").write_text(MIXED)
    with sqlite3.connect(root / "data" / "warehouse.db") as db:
        pd.read_parquet(root / "data" / "raw" / "churn.parquet").head(3000).to_sql("churn_users", db, index=False)
    git(root, "add", "params.yaml", "data/warehouse.db")
    git(root, "commit", "-qm", "analyses with a graph, a confounders list and a SQL source")
    return root


def dvc(root: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(root),
           "WHYFLOW_WORKERS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_dvc_repro_runs_a_graph_and_a_confounders_analysis(mixed):
    status = dvc(mixed, "status")  # every stage parses, the SQL one too (it once broke them all)
    assert status.returncode == 0 and "analysis@warehouse" in status.stdout, status.stdout + status.stderr
    done = dvc(mixed, "repro", "analysis@drawn", "analysis@listed")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for name in ("drawn", "listed"):
        assert f"Running stage 'analysis@{name}'" in done.stdout, done.stdout[-3000:]
        assert (mixed / "results" / name / "estimates.json").is_file()
        assert (mixed / "results" / name / "report.html").is_file()
    again = dvc(mixed, "repro", "analysis@drawn", "analysis@listed", timeout=600)
    assert again.returncode == 0 and "Running stage" not in again.stdout, again.stdout[-2000:]


def test_dvc_repro_runs_a_sql_analysis(mixed):
    done = dvc(mixed, "repro", "analysis@warehouse")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (mixed / "results" / "warehouse" / "estimates.json").is_file()
