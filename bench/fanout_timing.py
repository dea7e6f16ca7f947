"""Fan-out on a local two-worker Dask cluster vs the same analyses one by one, in one process.

Two small analyses of the demo data (2,000 rows, linear_regression and ipw, placebo with 2
simulations) in a throwaway project, under a temporary Prefect API. Shows the fixed cost of Dask
worker processes (each imports the stack before its first analysis) against the per-analysis work.

Usage: python bench/fanout_timing.py [--rows 2000] [--out bench/results/fanout-timing.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("WHYFLOW_WORKERS", "1")

import flows  # noqa: E402,F401  (Prefect's environment first)


def main() -> None:
    from prefect.testing.utilities import prefect_test_harness

    from flows.analysis import analysis
    from flows.fanout import run_many
    from tests.conftest import git, make_project
    from tests.flows.test_fanout import PARAMS

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--out", default="bench/results/fanout-timing.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=120):
        project = make_project(Path(tmp) / "p", Path(tmp) / "remote", coupon_rows=args.rows)
        (project / "params.yaml").write_text(PARAMS)
        git(project, "commit", "-qam", "two analyses")
        params = str(project / "params.yaml")
        analysis(analysis="first", params_file=params)  # warm: imports, MLflow store, snapshot cache
        start = time.perf_counter()
        run_many(["first", "second"], params, workers=2)
        fanned = time.perf_counter() - start
        start = time.perf_counter()
        for name in ("first", "second"):
            analysis(analysis=name, params_file=params)
        sequential = time.perf_counter() - start
    lines = [f"# Fan-out timing ({datetime.date.today()}, 2 cores, 24 GiB, no GPU)", "",
             f"Command: `python bench/fanout_timing.py --rows {args.rows}`; one measurement each, seconds; machine "
             "shared with other jobs while measured.", "",
             "| path | two analyses |", "|---|---|",
             f"| `run_many` on a new two-worker LocalCluster (start, worker imports, runs, shutdown) | {fanned:.1f} |",
             f"| one by one in a warm process | {sequential:.1f} |"]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
