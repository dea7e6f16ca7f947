"""The whole streamed analysis at 1e6 / 1e7 / 1e8 rows, against the read-only floor.

For each size: generate the partitioned coupon campaign (data.generate_large, once, under --data, default
/tmp/whyflow-scale), measure the floor (one pass that only reads the needed columns of every row group,
pyarrow, stored types: in this process and in the engine's two worker processes), set up a throwaway
project (git, DVC with a local remote, params.yaml whose analysis reads that directory through hardlinks),
run `whyflow run big` (refutation and sensitivity included) under /usr/bin/time -v while sampling the
resident memory of the whole process tree, and read the per-step timings the flow logs to MLflow.
With --sample RATE the largest size is also run with `sample: {rate: RATE, stratify_by: [member_level]}`
and its error against the full run is reported. Writes --out (bench/results/scale.md).

Usage: python bench/scale.py [--rows 1e6 1e7 1e8] [--repeats 1] [--sample 0.1] [--out bench/results/scale.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data.generate_large import dataset_name, write_large  # noqa: E402

PARAMS = """analyses:
  big:
    data: {{path: data/large/{name}}}
    treatment: coupon_sent
    outcome: gmv
    graph: data/graphs/coupon_618.dot
    effect_modifiers: [member_level]
    segments: [member_level]
    engine: {engine}
    refuters: [placebo, data_subset]
    seed: 42
{extra}"""
STEPS = ("open", "snapshot", "quality", "graph-tests", "estimate", "evidence", "record")
COLUMNS = ["coupon_sent", "gmv", "historical_gmv", "user_activity", "purchase_frequency", "member_level"]


def floor(folder: Path, workers: int) -> float:
    """Seconds for one pass that reads the needed columns of every row group and nothing else."""
    from estimators.streaming.arrow import RowGroups
    from tasks.scale.source import open_source
    from whyflow.spec import AnalysisSpec

    spec = AnalysisSpec(name="floor", base_dir=folder.parent, data={"path": folder.name}, treatment="coupon_sent",
                        outcome="gmv", confounders=["historical_gmv"])
    best = float("inf")
    with RowGroups(open_source(spec), workers) as groups:
        groups.map_tables(_rows, COLUMNS)  # start the workers, warm the page cache (not timed)
        for _ in range(3):  # best of three: the machine is shared
            started = time.perf_counter()
            rows = groups.map_tables(_rows, COLUMNS)["rows"]
            best = min(best, time.perf_counter() - started)
    assert rows > 0
    return best


def _rows(table, start: int) -> dict:
    return {"rows": table.num_rows}


def _project(root: Path, folder: Path, engine: str, extra: str = "") -> Path:
    project = root / "project"
    (project / "data" / "large" / folder.name).mkdir(parents=True)
    shutil.copytree(REPO / "data" / "graphs", project / "data" / "graphs")
    for f in folder.glob("*.parquet"):
        os.link(f, project / "data" / "large" / folder.name / f.name)
    truth = folder.with_name(f"{folder.name}.truth.json")
    shutil.copy(truth, project / "data" / "large" / truth.name)
    (project / "params.yaml").write_text(PARAMS.format(name=folder.name, engine=engine, extra=extra))
    (project / ".gitignore").write_text("/data/large/\n/results/\n/mlflow.db\n/mlartifacts/\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@whyflow.invalid",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@whyflow.invalid"}
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=project, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "-q", "-d", "local", str(root / "remote")],
                   cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "bench"], cwd=project, check=True, env=env)
    return project


class TreeMemory:
    """Peak of the summed resident memory of a process and all its descendants (sampled every 0.2 s), and
    the CPU seconds each of them used (last sample per process): on a shared machine the CPU time says what
    the run costs, the wall time what it got."""

    def __init__(self, pid: int):
        import psutil

        self.root, self.peak, self._stop = psutil.Process(pid), 0, threading.Event()
        self.cpu: dict[int, float] = {}
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.root, *self.root.children(recursive=True)]
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                        times = p.cpu_times()
                        self.cpu[p.pid] = times.user + times.system
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
            except psutil.Error:
                return
            time.sleep(0.2)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def _run(project: Path, prefect_home: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PREFECT_HOME": str(prefect_home),
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"}
    env.pop("MLFLOW_TRACKING_URI", None)
    load_before = os.getloadavg()
    started = time.perf_counter()
    child = subprocess.Popen(["/usr/bin/time", "-v", sys.executable, "-m", "flows.cli", "run", "big"], cwd=project,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    memory = TreeMemory(child.pid)
    stdout, stderr = child.communicate()
    tree_peak = memory.stop()
    cpu_seconds = sum(memory.cpu.values())
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"whyflow run failed ({child.returncode}):\n{stderr[-3000:]}")
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1)) / 1024
    run_id = re.search(r"mlflow_run_id=(\w+)", stdout).group(1)
    from mlflow.tracking import MlflowClient

    metrics = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").get_run(run_id).data.metrics
    results = project / "results" / "big"
    estimates = json.loads((results / "estimates.json").read_text())
    refutation = json.loads((results / "refutation.json").read_text()) if (results / "refutation.json").exists() \
        else None
    return {"wall": wall, "peak_mib": peak, "tree_peak_mib": tree_peak, "cpu_seconds": cpu_seconds,
            "metrics": metrics, "estimates": estimates,
            "refutation": refutation, "load_before": load_before, "load_after": os.getloadavg()}


def _median(runs: list[dict], key) -> float:
    return statistics.median(key(r) for r in runs)


def _table(results: dict[int, list[dict]], floors: dict[int, tuple[float, float]]) -> list[str]:
    sizes = sorted(results)
    lines = ["| step | " + " | ".join(f"{n:.0e} rows: s / peak MiB (main)" for n in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for step in STEPS:
        cells = []
        for n in sizes:
            s = _median(results[n], lambda r: r["metrics"].get(f"scale.seconds.{step}", float("nan")))
            m = _median(results[n], lambda r: r["metrics"].get(f"scale.peak_rss_mib.{step}", float("nan")))
            cells.append(f"{s:.1f} / {m:.0f}")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines.append("| **whole run** (wall, s) | " + " | ".join(
        f"**{_median(results[n], lambda r: r['wall']):.1f}**" for n in sizes) + " |")
    lines.append("| CPU seconds, all processes (sampled; / 2 cores = the wall time on an idle machine, at best) | "
                 + " | ".join(f"{_median(results[n], lambda r: r['cpu_seconds']):.0f}" for n in sizes) + " |")
    lines.append("| peak memory, all processes (MiB; main + workers, sampled) | " + " | ".join(
        f"{_median(results[n], lambda r: r['tree_peak_mib']):.0f}" for n in sizes) + " |")
    lines.append("| passes over the data (quality scan + estimate) | " + " | ".join(
        f"1 + {_median(results[n], lambda r: r['metrics'].get('scale.passes', float('nan'))):.0f}"
        for n in sizes) + " |")
    lines.append("| read-only floor, 1 process / 2 processes (s) | " + " | ".join(
        f"{floors[n][0]:.2f} / {floors[n][1]:.2f}" for n in sizes) + " |")
    lines.append("| whole run / floor (2 processes) | " + " | ".join(
        f"{_median(results[n], lambda r: r['wall']) / floors[n][1]:.0f}x" for n in sizes) + " |")
    lines.append("| estimate step / floor (2 processes) | " + " | ".join(
        f"{_median(results[n], lambda r: r['metrics'].get('scale.seconds.estimate')) / floors[n][1]:.1f}x"
        for n in sizes) + " |")
    lines.append("| load average before / after the run (1 min) | " + " | ".join(
        "; ".join(f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f}" for r in results[n]) for n in sizes)
        + " |")
    lines += ["", "| rows | estimator | ATE | 95% CI | covers truth | truth | placebo | data subset |",
              "|---:|---|---:|---|:---:|---:|---|---|"]
    for n in sizes:
        run = results[n][len(results[n]) // 2]
        payload = run["estimates"]
        truth = payload["truth"]["ate"]
        verdicts = {(r["refuter"], r["estimator"]): r for r in (run["refutation"] or {}).get("refutations", [])}
        for e in payload["estimates"]:
            covers = "yes" if e["ci_low"] <= truth <= e["ci_high"] else "**no**"
            cells = []
            for refuter in ("placebo", "data_subset"):
                r = verdicts.get((refuter, e["estimator"]))
                cells.append(f"{r.get('verdict')} (mean {r['new_effect']:.2f})" if r else "–")
            lines.append(f"| {n:,} | {e['estimator']} | {e['ate']:.3f} | [{e['ci_low']:.3f}, {e['ci_high']:.3f}] | "
                         f"{covers} | {truth:.4f} | {cells[0]} | {cells[1]} |")
    return lines


def _sensitivity_lines(results: dict[int, list[dict]]) -> list[str]:
    lines = ["", "| rows | estimator | E-value | RV_q=1 | RV_q=1,alpha=0.05 |", "|---:|---|---:|---:|---:|"]
    for n in sorted(results):
        m = results[n][len(results[n]) // 2]["metrics"]
        for name in ("stream_linear_regression", "stream_linear_dml", "stream_aipw"):
            lines.append(f"| {n:,} | {name} | {m.get(f'sensitivity.evalue.{name}', float('nan')):.2f} | "
                         f"{m.get(f'sensitivity.rv_q1.{name}', float('nan')):.3f} | "
                         f"{m.get(f'sensitivity.rv_q1_alpha05.{name}', float('nan')):.3f} |")
    return lines


def _sample_lines(full: dict, sampled: dict, rate: float) -> list[str]:
    truth = full["estimates"]["truth"]["ate"]
    a = {e["estimator"]: e for e in full["estimates"]["estimates"]}
    lines = ["", f"Sampled run: `sample: {{rate: {rate}, stratify_by: [member_level]}}` on the largest size, "
             f"{sampled['wall']:.1f} s wall (full run {full['wall']:.1f} s), peak {sampled['tree_peak_mib']:.0f} MiB.",
             "", "| estimator | full ATE [95% CI] | sampled ATE [95% CI] | sampled - full | CI width ratio | "
             "sampled covers truth |", "|---|---|---|---:|---:|:---:|"]
    for e in sampled["estimates"]["estimates"]:
        f = a[e["estimator"]]
        ratio = (e["ci_high"] - e["ci_low"]) / (f["ci_high"] - f["ci_low"])
        covers = "yes" if e["ci_low"] <= truth <= e["ci_high"] else "**no**"
        lines.append(f"| {e['estimator']} | {f['ate']:.3f} [{f['ci_low']:.3f}, {f['ci_high']:.3f}] | {e['ate']:.3f} "
                     f"[{e['ci_low']:.3f}, {e['ci_high']:.3f}] | {e['ate'] - f['ate']:+.3f} | {ratio:.2f} | {covers} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--engine", choices=["stream", "dask"], default="stream")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--sample", type=float, default=None, help="also run the largest size with this sample rate")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "whyflow-scale")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.md")
    args = parser.parse_args(argv)
    results: dict[int, list[dict]] = {}
    floors: dict[int, tuple[float, float]] = {}
    sampled = None
    for rows in map(int, args.rows):
        folder = args.data / dataset_name(rows)
        if not (folder.with_name(f"{folder.name}.truth.json")).is_file():
            write_large(rows, args.data, workers=2)
        floors[rows] = (floor(folder, 1), floor(folder, 2))
        print(f"{rows:,} rows: read-only floor {floors[rows][0]:.2f} s (1 process), {floors[rows][1]:.2f} s (2)",
              flush=True)
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory(dir=args.data) as tmp:
                project = _project(Path(tmp), folder, args.engine)
                runs.append(_run(project, Path(tmp) / "prefect"))
            print(f"{rows:,} rows: {runs[-1]['wall']:.1f} s, peak {runs[-1]['tree_peak_mib']:.0f} MiB (all processes), "
                  f"load {runs[-1]['load_before'][0]:.1f} -> {runs[-1]['load_after'][0]:.1f}", flush=True)
        results[rows] = runs
    if args.sample:
        rows = int(max(args.rows))
        folder = args.data / dataset_name(rows)
        with tempfile.TemporaryDirectory(dir=args.data) as tmp:
            extra = f"    sample: {{rate: {args.sample}, stratify_by: [member_level]}}\n"
            sampled = _run(_project(Path(tmp), folder, args.engine, extra), Path(tmp) / "prefect")
        print(f"{rows:,} rows sampled at {args.sample}: {sampled['wall']:.1f} s", flush=True)
    command = " ".join(["python bench/scale.py", "--rows", *(f"{r:.0e}" for r in args.rows),
                        *(["--repeats", str(args.repeats)] if args.repeats > 1 else []),
                        *(["--sample", str(args.sample)] if args.sample else [])])
    lines = ["# The streamed analysis at scale", "",
             f"Date: {datetime.date.today()}. Machine: {os.cpu_count()} cores (nproc), "
             f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, no GPU, shared with other "
             f"sessions (load averages per run below). Engine: `{args.engine}` (row groups in "
             f"{os.environ.get('WHYFLOW_WORKERS', os.cpu_count())} worker processes, one thread each).",
             f"Command: `{command}` ({args.repeats} run(s) per size, medians; data under {args.data}, not in the "
             "repository). The analysis: three streaming estimators, overlap, CATE by member level, placebo "
             "(10 simulations) and data-subset (5) refuters and the Cinelli-Hazlett sensitivity, all in the same "
             "passes; the whole run includes interpreter, Prefect, DVC and MLflow start-up.", "",
             *_table(results, floors), *_sensitivity_lines(results)]
    if sampled is not None:
        lines += _sample_lines(results[int(max(args.rows))][0], sampled, args.sample)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
