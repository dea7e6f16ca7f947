"""Wall time and peak memory of `whyflow run ANALYSIS`, end to end (Prefect start-up included).

Runs the command N times under `/usr/bin/time -v` (Debian package `time`) and writes a Markdown
table with every run and the median to bench/results/demo-timing-<analysis>.md.

    .venv/bin/python bench/demo_timing.py coupon_618 --runs 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _measure(command: list[str]) -> tuple[float, float, str]:
    done = subprocess.run(["/usr/bin/time", "-v", *command], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"command failed ({done.returncode}): {done.stderr[-1500:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    hours, minutes, seconds = (float(g) if g else 0.0 for g in wall.groups())
    rss_kb = float(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    run_id = done.stdout.strip().splitlines()[-1]
    return hours * 3600 + minutes * 60 + seconds, rss_kb / 1024, run_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("analysis", nargs="?", default="coupon_618")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    whyflow = str(Path(sys.executable).with_name("whyflow"))
    command = [whyflow, "run", args.analysis]
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    rows = [_measure(command) for _ in range(args.runs)]
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    walls = [r[0] for r in rows]
    lines = [
        f"# `whyflow run {args.analysis}`: wall time and peak memory",
        "",
        f"- date: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- machine: {os.cpu_count()} CPUs ({_cpu()}), Python {platform.python_version()}, {platform.system()}",
        f"- command: `.venv/bin/python bench/demo_timing.py {args.analysis} --runs {args.runs}` "
        f"(each run: `/usr/bin/time -v whyflow run {args.analysis}`, Prefect's temporary server included)",
        "- peak RSS is the main process's (`/usr/bin/time` does not add the Prefect server or worker processes)",
        f"- load average (1/5/15 min) before: {' '.join(load_before)}, after: {' '.join(load_after)}",
        "",
        "| run | wall s | peak RSS MiB | MLflow run |",
        "|---:|---:|---:|---|",
        *[f"| {i + 1} | {w:.1f} | {m:.0f} | {rid.removeprefix('mlflow_run_id=')} |" for i, (w, m, rid) in enumerate(rows)],
        "",
        f"**median wall: {statistics.median(walls):.1f} s** over {len(walls)} runs",
        "",
    ]
    out = ROOT / "bench" / "results" / f"demo-timing-{args.analysis}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
