"""Shared fixtures: a throwaway whyflow project (git + DVC + params.yaml + small demo data)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GIT_ENV = {"GIT_AUTHOR_NAME": "whyflow tests", "GIT_AUTHOR_EMAIL": "tests@whyflow.invalid",
           "GIT_COMMITTER_NAME": "whyflow tests", "GIT_COMMITTER_EMAIL": "tests@whyflow.invalid"}

PARAMS = """\
analyses:
  coupon_618:
    data: {path: data/raw/coupon_618.parquet}
    treatment: coupon_sent
    outcome: gmv
    graph: data/graphs/coupon_618.dot
    effect_modifiers: [member_level]
    segments: [member_level]
    estimators: [linear_regression, ps_stratification, ipw, linear_dml]
    refuters: [placebo, random_common_cause, data_subset]
    refute_simulations: 4
    gates: {min_common_support: 0.9, max_smd_after_weighting: 0.1, max_null_fraction: 0.0}
    seed: 42
  churn:
    data: {path: data/raw/churn.parquet}
    treatment: coupon_sent
    outcome: churned
    graph: data/graphs/churn.dot
    refute_simulations: 3
    seed: 7
"""


def git(root: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True).stdout


def make_project(root: Path, remote: Path, coupon_rows: int = 8000) -> Path:
    """A committed git repository with DVC, the demo graphs, params.yaml and generated data."""
    from dvc.repo import Repo

    from data.generate import write_dataset

    root.mkdir(parents=True)
    shutil.copytree(REPO / "data" / "graphs", root / "data" / "graphs")
    (root / "params.yaml").write_text(PARAMS)
    (root / ".gitignore").write_text("/data/raw/\n/data/snapshots/\n/results/\n/mlflow.db\n/mlartifacts/\n")
    write_dataset("coupon_618", root / "data" / "raw", rows=coupon_rows, seed=11)
    write_dataset("churn", root / "data" / "raw", rows=20000, seed=12)
    git(root, "init", "-q")
    Repo.init(str(root)).close()
    with open(root / ".dvc" / "config", "a") as config:
        config.write(f"[core]\n    remote = local\n['remote \"local\"']\n    url = {remote}\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "test project")
    return root


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("WHYFLOW_WORKERS", "1")
    return make_project(tmp_path / "project", tmp_path / "remote")


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect API for the whole session (flows run against it in-process)."""
    import flows  # noqa: F401  (sets the telemetry and logging environment first)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_api_url(prefect_server) -> str:
    """The session's Prefect API, for subprocesses: saves each its own temporary server start."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def clone_repository(root: Path, remote: Path) -> Path:
    """A clone of this repository (its committed code) set up as a small project: test params,
    generated data, a DVC remote in a temporary folder. Runs there use the clone's code."""
    from data.generate import write_dataset

    subprocess.run(["git", "clone", "-q", str(REPO), str(root)], check=True)
    (root / "params.yaml").write_text(PARAMS)
    config = (root / ".dvc" / "config").read_text()
    (root / ".dvc" / "config").write_text(config.replace("url = ../dvcstore", f"url = {remote}"))
    write_dataset("coupon_618", root / "data" / "raw", rows=8000, seed=11)
    write_dataset("churn", root / "data" / "raw", rows=20000, seed=12)
    git(root, "commit", "-qam", "test project")
    return root


def whyflow_cli(root: Path, *args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python -m flows.cli ARGS` with the clone's code first on the path."""
    import sys

    full_env = {**os.environ, "PYTHONPATH": str(root), "WHYFLOW_WORKERS": "1", **(env or {})}
    full_env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=root, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its schema migrated, made once: copying it into a test's project
    takes 0.1 s where MLflow's migrations take 8-13 s on these machines."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path
