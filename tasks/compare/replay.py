"""Replay an analysis with each combination of two runs' versions: {data, graph, params, code} from
run A or run B, 16 combinations at most (fewer when a factor did not change: equal versions share
one replay).

- data: the run's DVC snapshot, fetched once by md5 and passed as `--snapshot` to every replay;
- graph: the run's logged canonical graph (versions/graph.dot), written next to the replay's params
  file, so it swaps independently of the params (the spec's `graph` key is pointed at it; a spec
  with `confounders` gets the graph they implied, as logged);
- params: the run's logged spec (versions/spec.json) without its graph, with refuters, the decision
  step and the sensitivity benchmark switched off in every replay (they do not change an estimate);
- code: the run's commit in a git worktree with its logged diff, as `whyflow reproduce` does; the
  replay runs that code's own `whyflow run ... --snapshot`, so old code runs with old code paths.

Replays run in at most `workers` processes (one per worktree), each executing its share of the
combinations in one Python process (imports paid once; Prefect's API shared when given). Each
replay is an MLflow run in a separate store under .whyflow/compare/ (the project's own runs stay
as they are), and its estimates are cached there by the versions it combined.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tasks.compare.shapley import FACTORS, subset_label
from tasks.record.metrics import EFFECT_PREFIXES
from tasks.record.reproduce import LoggedRun, checkout_commit, remove_worktree
from whyflow.versions import environment_sha256

__all__ = ["Versions", "ReplayJob", "ReplayResult", "SKIPPED_IN_REPLAY", "cache_dir", "plan_replays", "replay_spec",
           "code_is_same", "run_replays", "estimates_of"]

log = logging.getLogger(__name__)
SKIPPED_IN_REPLAY = ("refuters", "decision", "sensitivity.benchmark")
_NOT_CODE_SUFFIXES = (".yaml", ".yml", ".dot", ".gv", ".gml", ".md", ".dvc", ".gitignore", ".lock", ".csv",
                      ".parquet", ".json")
_MARK = "WHYFLOW-REPLAY "

# Runs under the replayed commit's code (PYTHONPATH = its worktree): only that code's own CLI is used.
_WORKER = r"""
import contextlib, io, json, sys, time
from flows.cli import main
for job in json.load(open(sys.argv[1])):
    out, err, started = io.StringIO(), io.StringIO(), time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["run", job["analysis"], "--params", job["params"], "--snapshot", job["snapshot"]])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            code, _ = 1, print(f"whyflow: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    lines = out.getvalue().strip().splitlines()
    run_id = lines[-1].split("=", 1)[1] if lines and lines[-1].startswith("mlflow_run_id=") else None
    errors = [ln for ln in err.getvalue().splitlines() if ln.startswith("whyflow:")]
    reason = errors[-1] if errors else err.getvalue().strip()[-300:]
    sys.stderr.write(err.getvalue())
    print("WHYFLOW-REPLAY " + json.dumps({"key": job["key"], "exit": code, "run_id": run_id,
          "error": reason if code else None, "seconds": time.perf_counter() - started}), flush=True)
"""


@dataclass(frozen=True)
class Versions:
    """One run's four factors, as replayable inputs."""

    run_id: str
    data_md5: str
    graph_text: str
    graph_sha256: str
    spec: dict
    commit: str
    diff: str | None


@dataclass(frozen=True)
class ReplayJob:
    key: str
    subsets: list[frozenset]  # the combinations this replay stands for (equal versions collapse)
    analysis: str
    data_md5: str
    graph_text: str
    spec: dict
    commit: str
    diff: str | None
    code_key: str
    estimators: list[str] | None = None


@dataclass
class ReplayResult:
    key: str
    combinations: list[str]
    status: str  # ok, cached, failed
    estimates: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    error: str | None = None
    seconds: float | None = None

    def to_json(self) -> dict:
        return asdict(self)


def cache_dir(base_dir: Path) -> Path:
    """.whyflow/compare/ in the project (ignored by git: it holds its own .gitignore)."""
    folder = base_dir / ".whyflow" / "compare"
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return folder


def _sha(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def replay_spec(spec: dict, graph_file: str, estimators: list[str] | None = None) -> dict:
    """The logged spec as a replay runs it: its graph swapped for `graph_file`, the extras off, and only
    `estimators` when given (each estimator is seeded by the spec's seed alone, not by its position)."""
    out = json.loads(json.dumps({k: v for k, v in spec.items() if k != "name"}))
    out["graph"] = graph_file
    out.pop("confounders", None)
    if estimators:
        out["estimators"] = list(estimators)
    if "refuters" in out:
        out["refuters"] = []
    if out.get("decision") is not None:
        out["decision"] = None
    if isinstance(out.get("sensitivity"), dict) and out["sensitivity"].get("benchmark") is not None:
        out["sensitivity"]["benchmark"] = None
    return _without_nulls(out)


def _without_nulls(value: Any) -> Any:
    """Keys logged as null are left out (null is their default): code older than a key it does not know
    can then still read a later run's params (an unknown key is refused by the spec's extra="forbid")."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _params_key(spec: dict, estimators: list[str] | None) -> str:
    """What the params factor is: the replayed spec minus the graph and the data source."""
    replayed = replay_spec(spec, "", estimators)
    return _sha({k: v for k, v in replayed.items() if k not in ("graph", "confounders", "data")})


def _is_code(path: str) -> bool:
    pure = PurePosixPath(path)
    return not (path.endswith(_NOT_CODE_SUFFIXES) or pure.parts[:1] in (("results",), ("data",)) and
                pure.suffix != ".py")


def code_is_same(base_dir: Path, a: Versions, b: Versions) -> tuple[bool, list[str]]:
    """(same, code files touched): commits that differ only in params, graphs, data or docs run the same
    code; a logged diff counts as code unless both runs have the same one."""
    if a.commit == b.commit and (a.diff or "") == (b.diff or ""):
        return True, []
    if (a.diff or "") != (b.diff or ""):
        return False, ["(uncommitted changes logged with a run)"]
    done = subprocess.run(["git", "diff", "--name-only", a.commit, b.commit], cwd=base_dir, capture_output=True,
                          text=True)
    if done.returncode != 0:
        return False, ["(git diff failed)"]
    touched = [p for p in done.stdout.splitlines() if _is_code(p)]
    return not touched, touched


def plan_replays(analysis: str, a: Versions, b: Versions, same_code: bool,
                 estimators: list[str] | None = None) -> dict[frozenset, ReplayJob]:
    """One job per combination of factors taken from B; equal versions make equal jobs (same key).
    With `estimators`, replays run only those (faster); else each params version's own list."""
    env = environment_sha256()
    jobs: dict[str, ReplayJob] = {}
    by_subset: dict[frozenset, ReplayJob] = {}
    for size in range(len(FACTORS) + 1):
        for chosen in itertools.combinations(FACTORS, size):
            subset = frozenset(chosen)
            pick = {f: (b if f in subset else a) for f in FACTORS}
            code = pick["code"] if not same_code else a
            code_key = _sha([code.commit, code.diff or ""])
            key = _sha([analysis, pick["data"].data_md5, _sha(pick["graph"].graph_text),
                        _params_key(pick["params"].spec, estimators),
                        code_key, env])[:24]
            if key not in jobs:
                jobs[key] = ReplayJob(key=key, subsets=[], analysis=analysis, data_md5=pick["data"].data_md5,
                                      graph_text=pick["graph"].graph_text, spec=pick["params"].spec,
                                      commit=code.commit, diff=code.diff, code_key=code_key,
                                      estimators=list(estimators) if estimators else None)
            jobs[key].subsets.append(subset)
            by_subset[subset] = jobs[key]
    return by_subset


def estimates_of(metrics: dict[str, float]) -> dict[str, float]:
    """The effect metrics (ate.E, att.E, atc.E) of a run."""
    return {k: v for k, v in metrics.items() if k.split(".", 1)[0] in EFFECT_PREFIXES}


def _store(cache: Path) -> str:
    return f"sqlite:///{cache / 'replays.db'}"


def _prepare_store(cache: Path, analysis: str) -> None:
    """Migrate the replay store and create the experiment with its artifacts under the cache, before any
    worker runs (two processes migrating one SQLite file at once would collide)."""
    from mlflow.tracking import MlflowClient

    store = MlflowClient(tracking_uri=_store(cache))
    if store.get_experiment_by_name(analysis) is None:
        store.create_experiment(analysis, artifact_location=(cache / "artifacts" / analysis).as_uri())


def _write_inputs(worktree: Path, jobs: list[ReplayJob], snapshots: dict[str, Path]) -> Path:
    listing = []
    for job in jobs:
        graph = f".whyflow-compare-graph-{_sha(job.graph_text)[:16]}.dot"
        (worktree / graph).write_text(job.graph_text)
        params = worktree / f".whyflow-compare-{job.key}.yaml"
        spec = replay_spec(job.spec, graph, job.estimators)
        params.write_text(yaml.safe_dump({"analyses": {job.analysis: spec}}, sort_keys=True))
        listing.append({"key": job.key, "analysis": job.analysis, "params": str(params),
                        "snapshot": str(snapshots[job.data_md5])})
    path = worktree / ".whyflow-compare-jobs.json"
    path.write_text(json.dumps(listing))
    return path


def _split(jobs: list[ReplayJob], workers: int) -> list[list[ReplayJob]]:
    """Groups of jobs per worker process, each group on one code version."""
    by_code: dict[str, list[ReplayJob]] = {}
    for job in jobs:
        by_code.setdefault(job.code_key, []).append(job)
    groups = list(by_code.values())
    while len(groups) < workers and max(len(g) for g in groups) > 1:
        biggest = max(groups, key=len)
        groups.remove(biggest)
        groups += [biggest[::2], biggest[1::2]]
    return groups


def _start_worker(base_dir: Path, cache: Path, index: int, group: list[ReplayJob], snapshots: dict[str, Path],
                  api_url: str | None, threads: str, worktrees: list[Path]) -> tuple[subprocess.Popen, Any, list]:
    """A worktree of the group's code and one process replaying the group there (its stderr to a log)."""
    worktree = checkout_commit(base_dir, group[0].commit, group[0].diff)
    worktrees.append(worktree)
    listing = _write_inputs(worktree, group, snapshots)
    env = {**os.environ, "PYTHONPATH": str(worktree), "MLFLOW_TRACKING_URI": _store(cache),
           "WHYFLOW_WORKERS": threads, "PREFECT_LOGGING_LEVEL": "WARNING",
           "WHYFLOW_SERVE_MODELS": "0"}  # a replay registers no served model (tasks/serve/log.py)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    log_file = open(cache / f"worker-{index}.log", "w")
    process = subprocess.Popen([sys.executable, "-c", _WORKER, str(listing)], cwd=worktree, env=env,
                               stdout=subprocess.PIPE, stderr=log_file, text=True)
    log.info("replay worker %d: %d combination(s) at %s", index, len(group), group[0].commit[:12])
    return process, log_file, group


def run_replays(base_dir: Path, by_subset: dict[frozenset, ReplayJob], snapshots: dict[str, Path],
                api_url: str | None = None, workers: int = 2) -> dict[str, ReplayResult]:
    """Run every job not in the cache, `workers` processes at a time; results by job key."""
    cache = cache_dir(base_dir)
    results_dir = cache / "replays"
    results_dir.mkdir(exist_ok=True)
    unique = {job.key: job for job in by_subset.values()}
    labels = {key: [subset_label(s) for s in job.subsets] for key, job in unique.items()}
    results: dict[str, ReplayResult] = {}
    todo = []
    for key, job in unique.items():
        cached = results_dir / f"{key}.json"
        if cached.is_file():
            stored = json.loads(cached.read_text())
            results[key] = ReplayResult(key, labels[key], "cached", stored["estimates"], stored["run_id"],
                                        seconds=stored.get("seconds"))
        else:
            todo.append(job)
    if not todo:
        return results
    _prepare_store(cache, todo[0].analysis)
    groups = _split(todo, workers)
    threads = str(max(1, workers // max(1, min(workers, len(groups)))))  # estimation processes per replay
    worktrees: list[Path] = []
    running: list[tuple[subprocess.Popen, Any, list[ReplayJob]]] = []
    try:
        for first in range(0, len(groups), max(1, workers)):  # waves of `workers` processes
            running = [_start_worker(base_dir, cache, index, groups[index], snapshots, api_url, threads, worktrees)
                       for index in range(first, min(first + max(1, workers), len(groups)))]
            for process, log_file, group in running:
                out, _ = process.communicate()
                log_file.close()
                reported = {}
                for line in out.splitlines():
                    if line.startswith(_MARK):
                        row = json.loads(line[len(_MARK):])
                        reported[row["key"]] = row
                for job in group:
                    results[job.key] = _collect(cache, job, reported.get(job.key), labels[job.key], log_file.name)
    finally:
        for process, log_file, _ in running:
            if process.poll() is None:
                process.kill()
                log_file.close()
        for worktree in worktrees:
            remove_worktree(base_dir, worktree)
        subprocess.run(["git", "worktree", "prune"], cwd=base_dir, capture_output=True)
    return results


def _collect(cache: Path, job: ReplayJob, row: dict | None, labels: list[str], log_name: str) -> ReplayResult:
    if row is None:
        return ReplayResult(job.key, labels, "failed", error=f"the replay worker stopped before it (see {log_name})")
    if row["exit"] != 0 or not row["run_id"]:
        return ReplayResult(job.key, labels, "failed", run_id=row["run_id"], error=row["error"] or "failed",
                            seconds=row["seconds"])
    from mlflow.tracking import MlflowClient

    metrics = MlflowClient(tracking_uri=_store(cache)).get_run(row["run_id"]).data.metrics
    found = estimates_of(dict(metrics))
    (cache / "replays" / f"{job.key}.json").write_text(json.dumps(
        {"estimates": found, "run_id": row["run_id"], "seconds": row["seconds"], "combinations": labels}, indent=1))
    return ReplayResult(job.key, labels, "ok", found, row["run_id"], seconds=row["seconds"])


def versions_of(logged: LoggedRun, graph_text: str) -> Versions:
    return Versions(run_id=logged.run_id, data_md5=logged.versions["data_md5"], graph_text=graph_text,
                    graph_sha256=logged.versions["graph_sha256"], spec=logged.spec,
                    commit=logged.versions["git_commit"], diff=logged.diff)


__all__ += ["versions_of"]
