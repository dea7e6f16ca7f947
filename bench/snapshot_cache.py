"""What the snapshot cache saves: the content fingerprint (the cache key) against the snapshot step
it skips (Parquet write, md5, DVC cache + local remote), and the cached path (read back + md5 check).

One throwaway project (git + DVC) in a temporary folder; medians of N repetitions per row count.

Usage: python bench/snapshot_cache.py [--rows 100000 1000000] [--runs 3] [--out bench/results/snapshot-cache.md]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.data.fingerprint import frame_fingerprint, snapshot_from_record, snapshot_record, source_fingerprint  # noqa: E402
from tasks.data.snapshot import read_source  # noqa: E402
from tests.conftest import make_project  # noqa: E402
from whyflow.spec import load_spec  # noqa: E402


def median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", default="bench/results/snapshot-cache.md")
    args = parser.parse_args()
    lines = [f"# Snapshot cache: fingerprint vs snapshot ({datetime.date.today()}, 2 cores, 24 GiB, no GPU)", "",
             f"Command: `python bench/snapshot_cache.py --rows {' '.join(map(str, args.rows))} --runs {args.runs}`; "
             f"medians of {args.runs} runs, seconds. Machine shared with other jobs while measured.", "",
             "| rows | file md5 (cache key, file source) | rows hash (cache key, SQL source) | snapshot step (miss) "
             "| read back from cache (hit) |", "|---|---|---|---|---|"]
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(Path(tmp) / "p", Path(tmp) / "remote", coupon_rows=rows)
            spec = load_spec(project / "params.yaml", "coupon_618")
            frame = read_source(spec)
            key_file = median_seconds(lambda: source_fingerprint(spec), args.runs)
            key_rows = median_seconds(lambda: frame_fingerprint(frame), args.runs)
            record = snapshot_record(frame, spec)  # the first store; repeats below re-run every step
            miss = median_seconds(lambda: snapshot_record(frame, spec), args.runs)
            hit = median_seconds(lambda: snapshot_from_record(record, spec), args.runs)
        lines.append(f"| {rows:,} | {key_file:.3f} | {key_rows:.3f} | {miss:.3f} | {hit:.3f} |")
        print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
