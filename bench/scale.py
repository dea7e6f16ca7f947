"""The full streamed analysis at 1e6 / 1e7 / 1e8 rows: wall time and peak RSS per step.

For each size: generate the partitioned coupon campaign (data.generate_large, once, under
data/large/), set up a throwaway project (git, DVC with a local remote, params.yaml whose analysis
reads that directory through hardlinks), run `whyflow run big` under /usr/bin/time -v, and read the
per-step timings the flow logs to MLflow (`scale.seconds.<step>`, `scale.peak_rss_mib.<step>`).
Writes bench/results/scale.md.

Usage: python bench/scale.py [--rows 1e6 1e7 1e8] [--engine stream|dask] [--out bench/results/scale.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
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
    seed: 42
"""
STEPS = ("open", "snapshot", "quality", "graph-tests", "estimate", "record")


def _project(root: Path, folder: Path, engine: str) -> Path:
    project = root / "project"
    (project / "data" / "large" / folder.name).mkdir(parents=True)
    shutil.copytree(REPO / "data" / "graphs", project / "data" / "graphs")
    for f in folder.glob("*.parquet"):
        os.link(f, project / "data" / "large" / folder.name / f.name)
    truth = folder.with_name(f"{folder.name}.truth.json")
    shutil.copy(truth, project / "data" / "large" / truth.name)
    (project / "params.yaml").write_text(PARAMS.format(name=folder.name, engine=engine))
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


def _run(project: Path, prefect_home: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PREFECT_HOME": str(prefect_home),
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(["/usr/bin/time", "-v", sys.executable, "-m", "flows.cli", "run", "big"], cwd=project,
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"whyflow run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", done.stderr).group(1)
    parts = [float(p) for p in wall.split(":")]
    seconds = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) / 1024
    run_id = re.search(r"mlflow_run_id=(\w+)", done.stdout).group(1)
    from mlflow.tracking import MlflowClient

    metrics = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").get_run(run_id).data.metrics
    estimates = json.loads((project / "results" / "big" / "estimates.json").read_text())
    # the flow resets the peak-RSS counter per step (/proc/self/clear_refs), which also resets what
    # /usr/bin/time reads at exit: the run's peak is the larger of that and every step's peak
    steps = [v for k, v in metrics.items() if k.startswith("scale.peak_rss_mib.")]
    return {"wall": seconds, "peak_mib": max([peak, *steps]), "metrics": metrics, "estimates": estimates}


def _table(results: dict[int, dict], engine: str) -> list[str]:
    sizes = sorted(results)
    lines = ["| step | " + " | ".join(f"{n:.0e} rows: s / peak MiB" for n in sizes) + " |",
             "|---|" + "---:|" * len(sizes)]
    for step in STEPS:
        cells = []
        for n in sizes:
            m = results[n]["metrics"]
            cells.append(f"{m.get(f'scale.seconds.{step}', float('nan')):.1f} / "
                         f"{m.get(f'scale.peak_rss_mib.{step}', float('nan')):.0f}")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines.append("| **whole run** (`/usr/bin/time -v` wall; peak RSS over all steps) | " + " | ".join(
        f"**{results[n]['wall']:.1f} / {results[n]['peak_mib']:.0f}**" for n in sizes) + " |")
    lines.append("| passes over the data (estimate step) | " + " | ".join(
        f"{results[n]['metrics'].get('scale.passes', float('nan')):.0f}" for n in sizes) + " |")
    lines += ["", "| rows | estimator | ATE | 95% CI | covers truth | truth |", "|---:|---|---:|---|:---:|---:|"]
    for n in sizes:
        payload = results[n]["estimates"]
        truth = payload["truth"]["ate"]
        for e in payload["estimates"]:
            covers = "yes" if e["ci_low"] <= truth <= e["ci_high"] else "**no**"
            lines.append(f"| {n:,} | {e['estimator']} | {e['ate']:.3f} | [{e['ci_low']:.3f}, {e['ci_high']:.3f}] | "
                         f"{covers} | {truth:.4f} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--engine", choices=["stream", "dask"], default="stream")
    parser.add_argument("--data", type=Path, default=REPO / "data" / "large")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scale.md")
    args = parser.parse_args(argv)
    results = {}
    for rows in map(int, args.rows):
        folder = args.data / dataset_name(rows)
        if not (folder.with_name(f"{folder.name}.truth.json")).is_file():
            write_large(rows, args.data, workers=2)
        with tempfile.TemporaryDirectory(dir=REPO.parent if os.access(REPO.parent, os.W_OK) else None) as tmp:
            project = _project(Path(tmp), folder, args.engine)
            results[rows] = _run(project, Path(tmp) / "prefect")
        print(f"{rows:,} rows: {results[rows]['wall']:.1f} s, peak {results[rows]['peak_mib']:.0f} MiB", flush=True)
    load = os.getloadavg()
    lines = ["# The streamed analysis at scale", "",
             f"Date: {datetime.date.today()}. Machine: 2 cores, 24 GiB, no GPU. Engine: `{args.engine}`. "
             f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (other processes share the cores).",
             f"Command: `python bench/scale.py --rows {' '.join(f'{r:.0e}' for r in args.rows)} --engine {args.engine}`",
             "(one run per size; each step's wall time and peak RSS of the main process, reset per step; "
             "the whole run includes interpreter and Prefect start-up).", "",
             *_table(results, args.engine)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
