"""The replay machinery (tasks/compare/replay.py) on a stub project: worktrees per code version, worker
processes, the replay store and cache, failures named, and the sequential fallback they force. The
stub's `flows.cli.main` stands in for `whyflow run`: its estimate is seed + the snapshot's number,
+10 when the graph has node u, +0.5 in the later code; the earlier code refuses the later params' key."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tasks.compare.attribution import attribute_estimates
from tasks.compare.replay import Versions, cache_dir, plan_replays, run_replays
from tasks.compare.runs import RunPair
from tasks.record.reproduce import LoggedRun
from tests.conftest import git

STUB = '''
import os, sys, yaml
LATER = {later}
def main(argv):
    spec = next(iter(yaml.safe_load(open(argv[argv.index("--params") + 1]))["analyses"].values()))
    if "new_key" in spec and not LATER:
        print("whyflow: error: analysis 'demo': unknown key 'new_key'", file=sys.stderr)
        return 2
    from mlflow.tracking import MlflowClient
    store = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    run = store.create_run(store.get_experiment_by_name("demo").experiment_id)
    value = spec["seed"] + float(open(argv[argv.index("--snapshot") + 1]).read())
    value += 10 * ('"u"' in open(spec["graph"]).read()) + 0.5 * LATER
    store.log_metric(run.info.run_id, "ate.est", value)
    print(f"mlflow_run_id={{run.info.run_id}}")
    return 0
'''
WITH_U = 'digraph { "u" -> "t"; "u" -> "y"; "t" -> "y"; }\n'
WITHOUT_U = 'digraph { "t" -> "y"; }\n'


def _commit(root, later: bool) -> str:
    (root / "flows").mkdir(exist_ok=True)
    (root / "flows" / "__init__.py").write_text("")
    (root / "flows" / "cli.py").write_text(STUB.format(later=later))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "later" if later else "earlier")
    return git(root, "rev-parse", "HEAD").strip()


@pytest.mark.slow
def test_replays_name_what_failed_and_fall_back_to_a_stated_order(tmp_path, empty_mlflow_db):
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q")
    first, second = _commit(root, False), _commit(root, True)
    shutil.copy(empty_mlflow_db, cache_dir(root) / "replays.db")
    snapshots = {}
    for md5, number in (("m1", "1"), ("m2", "2")):
        snapshots[md5] = tmp_path / f"{md5}.txt"
        snapshots[md5].write_text(number)
    spec = {"name": "demo", "graph": "g.dot", "seed": 1, "refuters": []}
    a = Versions("A", "m1", WITH_U, "g1", spec, first, None)
    b = Versions("B", "m2", WITHOUT_U, "g2", {**spec, "seed": 2, "new_key": 5}, second, None)
    jobs = plan_replays("demo", a, b, same_code=False)
    results = run_replays(root, jobs, snapshots, workers=2)

    failed = {label for r in results.values() if r.status == "failed" for label in r.combinations}
    assert failed == {"params", "data+params", "graph+params", "data+graph+params"}  # A's code, B's params
    assert all("unknown key 'new_key'" in r.error for r in results.values() if r.status == "failed")
    assert sum(r.status == "ok" for r in results.values()) == 12
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=root, capture_output=True, text=True).stdout
    assert len(worktrees.strip().splitlines()) == 1  # every replay worktree removed

    def logged(run, value):
        return LoggedRun(run, "demo", {"git_commit": run}, {"ate.est": value}, spec, [])

    pair = RunPair(logged("A", 12.0), logged("B", 4.5), a, b)
    est = attribute_estimates(pair, jobs, results, ["est"])["est"].to_json()
    assert est["reproduced"] == {"a": True, "b": True} and est["method"] == "sequential"
    assert est["order"] == ["data", "graph", "code", "params"]  # the stated order passes a failed combination
    assert est["attribution"] == {"data": 1.0, "graph": -10.0, "code": 0.5, "params": 1.0}
    assert sum(est["attribution"].values()) == est["b"] - est["a"] == -7.5
    assert "graph+params" in est["note"] and "data -> graph -> params -> code" in est["note"]

    again = run_replays(root, jobs, snapshots, workers=1)  # the successes come from the cache
    assert sum(r.status == "cached" for r in again.values()) == 12
    assert sum(r.status == "failed" for r in again.values()) == 4
