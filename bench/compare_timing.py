"""Wall time of `whyflow compare A B` on the demo (coupon_618, 124,300 rows): 16 replays on 2 cores.

In a throwaway clone of this repository's committed code (under $SCRATCH or the system temp folder):
run A on the demo data; then a new draw of the data (--seed 2), the graph without activity's three
edges, `seed: 43` (and the sensitivity benchmark moved off activity) and a one-line code change (a
comment, so the code factor differs and all 16 combinations replay) committed together; run B.
Then `whyflow compare A B --json` N times from a cold replay cache (one Prefect start, shared
snapshots, no refutation, no decision or sensitivity benchmark in replays), and once more warm.
Writes bench/results/compare-timing.md.

    .venv/bin/python bench/compare_timing.py --runs 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@whyflow.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@whyflow.invalid"}


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


def _whyflow(clone: Path, env: dict, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = _run([sys.executable, "-m", "flows.cli", *args], clone, env)
    return done, time.perf_counter() - started


def _cpu_seconds() -> float:
    """User + system CPU of every finished child process (and theirs, as each waited for its own)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_id(done: subprocess.CompletedProcess) -> str:
    return done.stdout.strip().splitlines()[-1].split("=", 1)[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold-cache compare runs (default 3)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="whyflow-compare-bench-", dir=os.environ.get("SCRATCH")))
    clone = scratch / "clone"
    env = {**os.environ, **GIT_ENV, "PYTHONPATH": str(clone), "WHYFLOW_WORKERS": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    try:
        _run(["git", "clone", "-q", str(ROOT), str(clone)], scratch, env)
        config = clone / ".dvc" / "config"
        config.write_text(config.read_text().replace("url = ../dvcstore", f"url = {scratch / 'remote'}"))
        _run([sys.executable, "-m", "data.generate", "coupon_618"], clone, env)
        _run(["git", "commit", "-qam", "bench project"], clone, env)
        quick = ["--set", "refuters=[]"]  # the two runs' refuters are not what is measured (replays skip them)
        run_a = _run_id(_whyflow(clone, env, "run", "coupon_618", *quick)[0])
        _run([sys.executable, "-m", "data.generate", "coupon_618", "--seed", "2"], clone, env)
        graph = clone / "data" / "graphs" / "coupon_618.dot"
        text = graph.read_text()
        for edge in ("user_activity -> coupon_sent;", "user_activity -> gmv;", "user_activity -> purchase_frequency;"):
            text = text.replace(edge, "")
        graph.write_text(text)
        params = clone / "params.yaml"
        params.write_text(params.read_text().replace("seed: 42", "seed: 43")  # activity is no longer adjusted for:
                          .replace("benchmark: user_activity", "benchmark: historical_gmv"))  # another benchmark
        with open(clone / "tasks" / "estimate" / "effects.py", "a") as source:
            source.write("\n# a later commit's code\n")
        _run(["git", "commit", "-qam", "new draw, graph without activity's edges, seed 43, a code change"], clone, env)
        run_b = _run_id(_whyflow(clone, env, "run", "coupon_618", *quick)[0])
        env["WHYFLOW_WORKERS"] = "1"
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        cold, results = [], None
        for _ in range(args.runs):
            shutil.rmtree(clone / ".whyflow" / "compare", ignore_errors=True)
            cpu = _cpu_seconds()
            done, seconds = _whyflow(clone, env, "compare", run_a, run_b, "--json")
            results = json.loads(done.stdout.strip().rsplit("\n", 1)[0])
            cold.append((seconds, results["replay_seconds"], [r["seconds"] for r in results["replays"]],
                         _cpu_seconds() - cpu))
        table, warm = _whyflow(clone, env, "compare", run_a, run_b)
        load_after = Path("/proc/loadavg").read_text().split()[:3]
    finally:
        subprocess.run(["git", "worktree", "prune"], cwd=clone, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    per_replay = [s for _, _, seconds, _ in cold for s in seconds if s is not None]
    lines = [
        "# `whyflow compare A B` on the demo: 16 replays",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: nproc {os.cpu_count()}, Python {platform.python_version()}, {platform.system()}; load average "
        f"(1/5/15 min) before: {' '.join(load_before)}, after: {' '.join(load_after)} (other sessions share the cores)",
        f"- command: `.venv/bin/python bench/compare_timing.py --runs {args.runs}`: each cold run is "
        "`whyflow compare A B --json` with .whyflow/compare/ removed first (Prefect start, 16 replays in 2 processes "
        "with 8 each, the diffs, the MLflow comparison run); A and B are demo runs (coupon_618, 124,300 rows, "
        "`--set refuters=[]`) whose data, graph, params and code all differ",
        "",
        "| run | wall s (whole command) | replays s | replays | CPU s (all processes) |",
        "|---:|---:|---:|---:|---:|",
        *[f"| {i + 1} | {w:.1f} | {r:.1f} | {len(s)} | {c:.0f} |" for i, (w, r, s, c) in enumerate(cold)],
        f"| warm (cached) | {warm:.1f} | – | 0 | – |",
        "",
        f"**median wall, cold: {statistics.median(w for w, _, _, _ in cold):.1f} s**; median replays phase "
        f"{statistics.median(r for _, r, _, _ in cold):.1f} s; median single replay "
        f"{statistics.median(per_replay):.1f} s (in a worker process, imports paid once per worker); median CPU "
        f"{statistics.median(c for *_, c in cold):.0f} s, so about half that in wall time on 2 otherwise idle cores",
        "",
        "The last run's table:",
        "",
        "```",
        *table.stdout.rstrip().splitlines(),
        "```",
        "",
    ]
    out = ROOT / "bench" / "results" / "compare-timing.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
