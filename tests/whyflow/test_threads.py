"""One numeric thread per process: WHYFLOW_THREADS is the knob, in the CLI's process and its workers."""

import os
import subprocess
import sys

SCRIPT = """
import os
import flows  # pins the thread variables before numpy loads, as every whyflow command does
from whyflow.parallel import map_processes
from tests.whyflow.test_threads import blas_threads
print(os.environ["OMP_NUM_THREADS"], max(map_processes(blas_threads, [1, 2], 2)))
"""


def blas_threads(_item) -> int:
    """The largest thread pool numpy's BLAS/OpenMP libraries would use in this process."""
    import numpy  # noqa: F401  (loads the pools)
    from threadpoolctl import threadpool_info

    return max((pool["num_threads"] for pool in threadpool_info()), default=1)


def test_a_stray_omp_num_threads_does_not_win_and_workers_are_limited_too():
    env = {**os.environ, "OMP_NUM_THREADS": "8", "OPENBLAS_NUM_THREADS": "8", "WHYFLOW_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["1", "1"]
