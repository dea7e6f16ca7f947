"""Reproduce a logged run: its versions, its code in a git worktree, its snapshot, and a comparison."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tasks.record import tracking
from tasks.record.metrics import is_timing
from whyflow import constants as C
from whyflow.errors import ReproductionError, WhyflowError
from whyflow.versions import environment_lines

__all__ = ["LoggedRun", "Difference", "load_logged_run", "checkout_commit", "remove_worktree", "rerun",
           "compare_runs", "environment_changes", "REPRO_PARAMS"]

log = logging.getLogger(__name__)
REPRO_PARAMS = ".whyflow-reproduce.yaml"
_COMPARED_TAGS = ("data_md5", "graph_sha256", "params_sha256", "seed", "git_commit", "analysis")


@dataclass(frozen=True)
class LoggedRun:
    run_id: str
    analysis: str
    versions: dict[str, str]
    metrics: dict[str, float]
    spec: dict
    environment: list[str]
    diff: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Difference:
    key: str
    original: str
    reproduced: str


def _artifact_text(base_dir: Path, run_id: str, path: str) -> str | None:
    client = tracking.client(base_dir)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            return Path(client.download_artifacts(run_id, path, tmp)).read_text()
        except Exception:
            return None


def load_logged_run(base_dir: Path, run_id: str) -> LoggedRun:
    """The run's version tags, metrics, logged spec, environment and (when dirty) diff."""
    try:
        run = tracking.client(base_dir).get_run(run_id)
    except Exception:
        raise ReproductionError(f"run {run_id!r} is not in the MLflow store {tracking.safe_uri(base_dir)}") from None
    tags = run.data.tags
    versions = {name: tags.get(tag, "") for name, tag in C.VERSION_TAGS.items()}
    missing = [name for name in ("analysis", "data_md5", "git_commit") if not versions[name]]
    if missing:
        raise ReproductionError(f"run {run_id!r} was not logged by whyflow (no {', '.join(missing)} tag)")
    spec_text = _artifact_text(base_dir, run_id, "versions/spec.json")
    if spec_text is None:
        raise ReproductionError(f"run {run_id!r} has no versions/spec.json artifact to reproduce from")
    diff = _artifact_text(base_dir, run_id, "versions/git.diff") if versions["git_dirty"] == "true" else None
    environment = (_artifact_text(base_dir, run_id, "versions/environment.txt") or "").splitlines()
    return LoggedRun(run_id=run_id, analysis=versions["analysis"], versions=versions, metrics=dict(run.data.metrics),
                     spec=json.loads(spec_text), environment=environment, diff=diff)


def checkout_commit(base_dir: Path, commit: str, diff: str | None) -> Path:
    """A detached git worktree of the commit in a temporary folder, with the logged diff applied."""
    def git(*args: str, cwd: Path = base_dir, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, **kw)

    if git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        raise ReproductionError(f"commit {commit} is not in the repository at {str(base_dir)!r}; fetch it first")
    folder = Path(tempfile.mkdtemp(prefix="whyflow-reproduce-"))
    worktree = folder / "code"
    added = git("worktree", "add", "--detach", str(worktree), commit)
    if added.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise ReproductionError(f"could not check out {commit}: {added.stderr.strip().splitlines()[-1]}")
    if diff:
        applied = git("apply", "--binary", "--whitespace=nowarn", "-", cwd=worktree, input=diff)
        if applied.returncode != 0:
            remove_worktree(base_dir, worktree)
            raise ReproductionError(f"the logged diff does not apply to {commit}: {applied.stderr.strip()[:200]}")
    return worktree


def remove_worktree(base_dir: Path, worktree: Path) -> None:
    subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=base_dir, capture_output=True)
    shutil.rmtree(worktree.parent, ignore_errors=True)


def rerun(logged: LoggedRun, worktree: Path, snapshot: Path, base_dir: Path) -> str:
    """Run the logged spec with the worktree's code on the snapshot; returns the new run id."""
    spec = {k: v for k, v in logged.spec.items() if k != "name"}
    (worktree / REPRO_PARAMS).write_text(yaml.safe_dump({"analyses": {logged.analysis: spec}}, sort_keys=True))
    env = {**os.environ, "PYTHONPATH": str(worktree), "MLFLOW_TRACKING_URI": tracking.tracking_uri(base_dir)}
    command = [sys.executable, "-m", "flows.cli", "run", logged.analysis, "--params", str(worktree / REPRO_PARAMS),
               "--snapshot", str(snapshot)]
    log.info("re-running %s at %s", logged.analysis, logged.versions["git_commit"][:12])
    done = subprocess.run(command, cwd=worktree, env=env, capture_output=True, text=True)
    lines = done.stdout.strip().splitlines()
    if not lines or not lines[-1].startswith("mlflow_run_id="):
        reason = next((ln for ln in done.stderr.splitlines() if ln.startswith("whyflow:")), done.stderr[-300:])
        raise WhyflowError(f"the reproduction run failed (exit {done.returncode}): {reason}")
    if done.returncode != 0:
        raise WhyflowError(f"the reproduction run failed (exit {done.returncode}); run {lines[-1]}")
    return lines[-1].split("=", 1)[1]


def _show(value: object) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def compare_runs(original: LoggedRun, reproduced: LoggedRun) -> list[Difference]:
    """Every logged metric must be equal bit for bit (timings aside), and the versions must match."""
    differences = []
    keys = sorted(set(original.metrics) | set(reproduced.metrics))
    for key in keys:
        if is_timing(key):
            continue
        a, b = original.metrics.get(key), reproduced.metrics.get(key)
        same = a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))
        if not same:
            differences.append(Difference(key, _show(a), _show(b)))
    for name in _COMPARED_TAGS:
        if original.versions.get(name) != reproduced.versions.get(name):
            differences.append(Difference(f"tag {name}", original.versions.get(name, ""),
                                          reproduced.versions.get(name, "")))
    return differences


def environment_changes(logged: list[str], current: list[str] | None = None) -> list[str]:
    """Packages whose version differs between the logged environment and this one."""
    def versions(lines: list[str]) -> dict[str, str]:
        return dict(line.split("==", 1) for line in lines if "==" in line)

    before, now = versions(logged), versions(environment_lines() if current is None else current)
    return [f"{name}: {before.get(name, 'absent')} -> {now.get(name, 'absent')}"
            for name in sorted(set(before) | set(now)) if before.get(name) != now.get(name)]
