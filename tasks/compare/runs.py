"""The two runs of a comparison: their logged versions, fetched snapshots, and what changed."""

from __future__ import annotations

import logging
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.compare import diffs
from tasks.compare.replay import Versions, code_is_same, versions_of
from tasks.data.snapshot import fetch_snapshot
from tasks.record import tracking
from tasks.record.reproduce import LoggedRun, load_logged_run
from whyflow.errors import ReproductionError

__all__ = ["RunPair", "Changes", "load_pair", "fetch_versions", "what_changed"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunPair:
    a: LoggedRun
    b: LoggedRun
    versions_a: Versions
    versions_b: Versions

    @property
    def analysis(self) -> str:
        return self.b.analysis

    def versions(self) -> dict[str, dict[str, Any]]:
        return {"a": dict(self.a.versions), "b": dict(self.b.versions)}


@dataclass(frozen=True)
class Changes:
    data: dict
    graph: dict
    params: list[dict]
    code: dict
    environment: list[str]
    same_code: bool
    code_files: list[str]

    def changed(self) -> dict[str, bool]:
        return {"data": not self.data["same"], "graph": not self.graph["same"], "params": bool(self.params),
                "code": not self.same_code}

    def to_json(self) -> dict:
        return {"data": self.data, "graph": self.graph, "params": self.params, "code": self.code | {
            "same_code": self.same_code, "code_files": self.code_files}, "environment": self.environment,
            "changed": self.changed()}


def _graph_text(base_dir: Path, run: LoggedRun) -> str:
    """The run's canonical graph as logged (versions/graph.dot), else its graph file at its commit."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return Path(tracking.client(base_dir).download_artifacts(run.run_id, "versions/graph.dot", tmp)).read_text()
        except Exception:
            pass
    path = run.spec.get("graph")
    if path:
        done = subprocess.run(["git", "show", f"{run.versions['git_commit']}:{path}"], cwd=base_dir,
                              capture_output=True, text=True)
        if done.returncode == 0:
            return done.stdout
    raise ReproductionError(f"run {run.run_id!r} has no logged graph (versions/graph.dot) and its graph file "
                            f"{path!r} is not at its commit")


def load_pair(base_dir: Path, run_a: str, run_b: str) -> RunPair:
    """Both runs' logged versions; an unknown run or one not logged by whyflow is exit 2."""
    if run_a == run_b:
        raise ReproductionError(f"compare needs two different runs; got {run_a!r} twice")
    a, b = load_logged_run(base_dir, run_a), load_logged_run(base_dir, run_b)
    return RunPair(a, b, versions_of(a, _graph_text(base_dir, a)), versions_of(b, _graph_text(base_dir, b)))


def fetch_versions(base_dir: Path, pair: RunPair) -> dict[str, str]:
    """Each snapshot from DVC by md5 (cache or remote), and each commit checked present: exit 2 if not."""
    for run in (pair.a, pair.b):
        commit = run.versions["git_commit"]
        known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=base_dir, capture_output=True)
        if known.returncode != 0:
            raise ReproductionError(f"commit {commit} of run {run.run_id} is not in the repository at "
                                    f"{str(base_dir)!r}; fetch it first")
    md5s = {pair.a.versions["data_md5"], pair.b.versions["data_md5"]}
    return {md5: str(fetch_snapshot(md5, base_dir)) for md5 in md5s}


def what_changed(base_dir: Path, pair: RunPair, snapshots: dict[str, str]) -> Changes:
    """Data, graph, params, code and environment differences between the two runs."""
    md5_a, md5_b = pair.a.versions["data_md5"], pair.b.versions["data_md5"]
    frame_a = pd.read_parquet(snapshots[md5_a])
    frame_b = frame_a if md5_b == md5_a else pd.read_parquet(snapshots[md5_b])
    unit_id = pair.b.spec.get("unit_id") or pair.a.spec.get("unit_id")
    data = diffs.diff_data(frame_a, frame_b, md5_a, md5_b, unit_id).to_json()
    graph = diffs.diff_graph_versions(pair.versions_a.graph_text, pair.versions_b.graph_text, pair.a.spec, pair.b.spec,
                                      base_dir)
    params = diffs.diff_params({k: v for k, v in pair.a.spec.items() if k not in ("graph", "confounders")},
                               {k: v for k, v in pair.b.spec.items() if k not in ("graph", "confounders")})
    same_code, files = code_is_same(base_dir, pair.versions_a, pair.versions_b)
    return Changes(data=data, graph=graph, params=params, code=diffs.diff_code(base_dir, pair.a, pair.b).to_json(),
                   environment=diffs.diff_environment(pair.a, pair.b), same_code=same_code, code_files=files)
