"""A real Prefect server on loopback, `whyflow serve` against it, a run triggered through the REST
API the UI uses; then the MLflow run and the Prefect artifacts it left. Everything started here is
stopped here, also when an assertion fails."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, make_project
from whyflow import constants as C

pytestmark = pytest.mark.slow

OVERRIDES = {"estimators": ["linear_regression", "ipw"], "refuters": ["placebo"], "refute_simulations": 2,
             "gates": {"min_common_support": 0.85}}
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(command: list[str], env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    # A new session: the server and the runner start children (uvicorn, flow runs); stopping the
    # group stops them all.
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=open(log, "w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for(check, what: str, timeout: float, processes: list[subprocess.Popen], logs: list[Path]):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for process, log in zip(processes, logs):
            if process.poll() is not None:
                raise AssertionError(f"{what}: a process exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    tails = "\n".join(log.read_text()[-2000:] for log in logs)
    raise AssertionError(f"{what}: not within {timeout:.0f} s\n{tails}")


@pytest.fixture(scope="module")
def served(tmp_path_factory, empty_mlflow_db):
    """(API URL, project): a Prefect server with its own home and SQLite, and `whyflow serve`."""
    import httpx

    tmp = tmp_path_factory.mktemp("served")
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_TRACKING_URI"))}
    server_env = {**base, "PREFECT_HOME": str(tmp / "server-home"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                  "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp / 'prefect.db'}",
                  "PREFECT_UI_API_URL": api}
    serve_env = {**base, "PREFECT_HOME": str(tmp / "serve-home"), "PREFECT_API_URL": api, "WHYFLOW_WORKERS": "1",
                 "PYTHONPATH": str(REPO)}
    logs = [tmp / "server.log", tmp / "serve.log"]
    started: list[subprocess.Popen] = []
    try:
        started.append(start([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                              "--port", str(port)], server_env, tmp, logs[0]))
        project = make_project(tmp / "project", tmp / "remote", coupon_rows=3000)  # while the server boots
        shutil.copy(empty_mlflow_db, project / "mlflow.db")
        # `whyflow serve` waits for the API itself, so it starts (and imports) while the server boots
        started.append(start([sys.executable, "-m", "flows.cli", "serve", "--params", str(project / "params.yaml")],
                             serve_env, project, logs[1]))

        def deployed():
            try:
                found = httpx.get(f"{api}/deployments/name/reproduce/whyflow", timeout=5)
                return found.status_code == 200 and httpx.get(f"{api}/deployments/name/analysis/whyflow",
                                                              timeout=5).json()
            except httpx.HTTPError:  # the server is still starting
                return None

        deployment = wait_for(deployed, "prefect server start and whyflow serve", 180, started, logs)
        yield api, project, deployment, started, logs
    finally:
        for process in reversed(started):
            stop(process)


def test_a_run_started_through_the_api_logs_the_mlflow_run_and_publishes_artifacts(served):
    import httpx
    from mlflow.tracking import MlflowClient

    from whyflow.spec import load_spec

    api, project, deployment, processes, logs = served
    schema = deployment["parameter_openapi_schema"]
    assert schema["properties"]["analysis"]["enum"] == ["coupon_618", "churn"]  # the form's choice list
    assert schema["required"] == ["analysis"]
    assert "AnalysisOverrides" in json.dumps(schema["properties"]["overrides"])

    # what the UI's "Run" form posts
    for attempt in range(6):  # a freshly started server on its SQLite file can answer 503 while busy
        created = httpx.post(f"{api}/deployments/{deployment['id']}/create_flow_run",
                             json={"parameters": {"analysis": "coupon_618", "overrides": OVERRIDES}}, timeout=10)
        if created.status_code != 503:
            break
        time.sleep(2 * (attempt + 1))
    assert created.status_code == 201, created.text
    flow_run_id = created.json()["id"]

    def finished():
        run = httpx.get(f"{api}/flow_runs/{flow_run_id}", timeout=5).json()
        return run if run["state"]["type"] in TERMINAL else None

    run = wait_for(finished, "the flow run", 300, processes, logs)
    assert run["state"]["type"] == "COMPLETED", (run["state"], logs[1].read_text()[-3000:])

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    [logged] = client.search_runs([client.get_experiment_by_name("coupon_618").experiment_id])
    tags, metrics = logged.data.tags, logged.data.metrics
    spec = load_spec(project / "params.yaml", "coupon_618",
                     {"estimators": OVERRIDES["estimators"], "refuters": OVERRIDES["refuters"],
                      "refute_simulations": 2, "gates.min_common_support": 0.85})
    assert logged.info.status == "FINISHED"
    assert set(C.VERSION_TAGS.values()) <= set(tags)
    assert tags[C.TAG_PARAMS_SHA] == spec.params_sha256()  # the overrides applied as `--set` applies them
    for name in OVERRIDES["estimators"]:
        for key in ("ate", "ate_ci_low", "ate_ci_high", "p_value"):
            assert f"{key}.{name}" in metrics
        assert f"refute.placebo.{name}" in metrics
    assert {"overlap.common_support", "balance.max_smd_after"} <= set(metrics)
    # a served run with overrides is a one-off: its files under runs/<run_id>/, the compact metrics.json
    written = json.loads((project / "results/coupon_618/runs" / logged.info.run_id / "metrics.json").read_text())
    assert written and all(metrics[k] == v for k, v in written.items() if v is not None)
    assert not (project / "results/coupon_618/estimates.json").exists()

    artifacts = httpx.post(f"{api}/artifacts/filter", timeout=5,
                           json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}).json()
    by_key = {a["key"]: a for a in artifacts}
    assert {"whyflow-coupon-618-summary", "whyflow-coupon-618-mlflow-run", "whyflow-coupon-618-report"} <= set(by_key)
    summary = by_key["whyflow-coupon-618-summary"]["data"]
    assert "## Estimates" in summary and "## Gates" in summary and "## Refutations" in summary
    assert f"| ipw | ATE | {metrics['ate.ipw']:.4g} | [{metrics['ate_ci_low.ipw']:.4g}, " in summary
    assert f"| data_md5 | {tags[C.TAG_DATA_MD5]} |" in summary
    assert by_key["whyflow-coupon-618-mlflow-run"]["data"].endswith(f"/runs/{logged.info.run_id})")
    assert f"run_uuid={logged.info.run_id}" in by_key["whyflow-coupon-618-report"]["data"]
