"""Exact reproduction: `whyflow reproduce RUN_ID`, determinism, and `dvc repro`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import clone_repository, git, whyflow_cli

pytestmark = pytest.mark.slow


@pytest.fixture
def clone(tmp_path, monkeypatch, prefect_api_url):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_API_URL", prefect_api_url)
    return clone_repository(tmp_path / "clone", tmp_path / "remote")


def run_id(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("mlflow_run_id="), last
    return last.split("=", 1)[1]


def metrics(root: Path, rid: str) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    from tasks.record.metrics import is_timing

    run = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}").get_run(rid)
    return {k: v for k, v in run.data.metrics.items() if not is_timing(k)}


def test_same_inputs_give_identical_metrics(clone):
    first = run_id(whyflow_cli(clone, "run", "coupon_618"))
    second = run_id(whyflow_cli(clone, "run", "coupon_618", env={"WHYFLOW_WORKERS": "2"}))
    one, two = metrics(clone, first), metrics(clone, second)
    assert len(one) > 40 and one == two  # bit for bit, with one worker process or two


def test_reproduce_after_code_params_and_cache_changes(clone, tmp_path):
    original = run_id(whyflow_cli(clone, "run", "coupon_618"))
    # Later work changes the code and the params, and the local DVC cache is lost.
    with open(clone / "tasks" / "estimate" / "effects.py", "a") as source:
        source.write("\nLATER_CHANGE = True\n")
    (clone / "params.yaml").write_text((clone / "params.yaml").read_text().replace("seed: 42", "seed: 43"))
    git(clone, "commit", "-qam", "later work")
    shutil.rmtree(clone / ".dvc" / "cache")
    done = whyflow_cli(clone, "reproduce", original)
    new = run_id(done)
    assert f"reproduced run {original} exactly" in done.stdout
    assert metrics(clone, new) == metrics(clone, original)
    from mlflow.tracking import MlflowClient

    tags = MlflowClient(tracking_uri=f"sqlite:///{clone / 'mlflow.db'}").get_run(new).data.tags
    assert tags["whyflow.reproduces"] == original and tags["whyflow.seed"] == "42"


def test_dirty_run_is_reproduced_with_its_diff(clone):
    (clone / "params.yaml").write_text((clone / "params.yaml").read_text().replace("refute_simulations: 4",
                                                                                    "refute_simulations: 3"))
    original = run_id(whyflow_cli(clone, "run", "coupon_618"))
    git(clone, "checkout", "-q", "params.yaml")  # the uncommitted change is gone from the tree
    done = whyflow_cli(clone, "reproduce", original)
    assert metrics(clone, run_id(done)) == metrics(clone, original)


def test_refusals(clone, tmp_path):
    original = run_id(whyflow_cli(clone, "run", "churn"))
    unknown = whyflow_cli(clone, "reproduce", "0" * 32)
    assert unknown.returncode == 2 and f"run '{'0' * 32}' is not in the MLflow store" in unknown.stderr

    from mlflow.tracking import MlflowClient

    store = MlflowClient(tracking_uri=f"sqlite:///{clone / 'mlflow.db'}")
    logged = store.get_run(original)
    fake = store.create_run(logged.info.experiment_id, tags={**logged.data.tags, "whyflow.git.commit": "f" * 40})
    store.log_artifacts(fake.info.run_id, store.download_artifacts(original, "versions", str(tmp_path)), "versions")
    no_commit = whyflow_cli(clone, "reproduce", fake.info.run_id)
    assert no_commit.returncode == 2 and f"commit {'f' * 40} is not in the repository" in no_commit.stderr

    md5 = logged.data.tags["whyflow.data.md5"]
    remote_copy = tmp_path / "remote" / "files" / "md5" / md5[:2] / md5[2:]
    shutil.rmtree(clone / ".dvc" / "cache")
    remote_copy.chmod(0o644)
    remote_copy.write_bytes(b"corrupted")
    tampered = whyflow_cli(clone, "reproduce", original)
    assert tampered.returncode == 2 and "does not match its md5" in tampered.stderr, tampered.stderr[-600:]
    assert remote_copy.read_bytes() == b"corrupted"  # nothing was overwritten

    shutil.rmtree(clone / ".dvc" / "cache", ignore_errors=True)
    remote_copy.unlink()
    missing = whyflow_cli(clone, "reproduce", original)
    assert missing.returncode == 2 and "neither in the DVC cache nor on the default remote" in missing.stderr, \
        missing.stderr[-600:]
    assert len(store.search_runs([logged.info.experiment_id])) == 2  # the original and the fake: no new runs


def _strip_timings(value):
    if isinstance(value, dict):
        return {k: _strip_timings(v) for k, v in value.items() if k != "seconds" and not k.startswith("seconds.")
                and k != "identification.seconds"}
    if isinstance(value, list):
        return [_strip_timings(v) for v in value]
    return value


def test_dvc_repro_runs_everything_once_and_matches_a_flow_run(clone):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONPATH": str(clone),
           "WHYFLOW_WORKERS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    dvc = [sys.executable, "-m", "dvc"]
    first = subprocess.run([*dvc, "repro"], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "Running stage 'analysis@coupon_618'" in first.stdout and "Running stage 'analysis@churn'" in first.stdout
    again = subprocess.run([*dvc, "repro"], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert "Running stage" not in again.stdout, again.stdout

    (clone / "params.yaml").write_text((clone / "params.yaml").read_text().replace("seed: 7", "seed: 8"))
    third = subprocess.run([*dvc, "repro"], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
    assert "Running stage 'analysis@churn'" in third.stdout, third.stdout[-2000:]
    assert "Running stage 'analysis@coupon_618'" not in third.stdout
    git(clone, "checkout", "-q", "params.yaml")  # the coupon_618 stage ran from a clean tree; so will the flow

    by_dvc = {p.name: json.loads(p.read_text()) for p in (clone / "results" / "coupon_618").glob("*.json")}
    run_id(whyflow_cli(clone, "run", "coupon_618"))
    by_flow = {p.name: json.loads(p.read_text()) for p in (clone / "results" / "coupon_618").glob("*.json")}
    assert set(by_dvc) >= {"estimates.json", "metrics.json", "overlap.json", "refutation.json"}
    assert _strip_timings(by_dvc) == _strip_timings(by_flow)
    shown = subprocess.run([*dvc, "metrics", "show", "--json"], cwd=clone, env=env, capture_output=True, text=True)
    assert "ate.linear_dml" in shown.stdout


def test_a_streamed_run_reproduces_exactly(clone):
    """whyflow reproduce on a streamed run: its `<md5>.dir` snapshot comes back from DVC as a folder,
    is streamed again, and every metric but the timings (scale.seconds.*) is identical."""
    from data.generate_large import write_large

    folder = write_large(4000, clone / "data" / "large", chunk_rows=1500, seed=23)
    with open(clone / "params.yaml", "a") as params:
        params.write(f"""  big:
    data: {{path: data/large/{folder.name}}}
    treatment: coupon_sent
    outcome: gmv
    graph: data/graphs/coupon_618.dot
    engine: stream
    chunk_rows: 1000
""")
    git(clone, "commit", "-qam", "a streamed analysis")
    original = run_id(whyflow_cli(clone, "run", "big"))
    shutil.rmtree(folder)  # the data are gone from the work tree: DVC has them
    done = whyflow_cli(clone, "reproduce", original)
    new = run_id(done)
    assert f"reproduced run {original} exactly" in done.stdout
    assert metrics(clone, new) == metrics(clone, original) and "scale.passes" in metrics(clone, new)
