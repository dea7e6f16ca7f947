"""Fan-out: many analyses at once, one Dask task each (prefect-dask), each running the analysis flow
as a subflow, so every analysis gets the same code path, flow run and MLflow run as `whyflow run`.

By default a local Dask cluster with one single-threaded worker process per core; with an address
(`--dask-address` or WHYFLOW_DASK_ADDRESS) an existing cluster, whose workers need this project's
code and data at the same paths. Results do not depend on where an analysis runs: each is seeded
from its own spec and numeric libraries run one thread per process.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

__all__ = ["analyses", "dask_task_runner", "run_many", "DASK_ADDRESS_ENV"]

DASK_ADDRESS_ENV = "WHYFLOW_DASK_ADDRESS"


def dask_task_runner(address: str | None = None, workers: int | None = None, env: dict[str, str] | None = None):
    """A DaskTaskRunner on the cluster at `address` (else WHYFLOW_DASK_ADDRESS), else a local one
    whose worker processes get `env`."""
    from prefect_dask import DaskTaskRunner

    address = address or os.environ.get(DASK_ADDRESS_ENV) or None
    if address:
        return DaskTaskRunner(address=address)
    count = workers or max(1, os.cpu_count() or 1)
    # Worker processes, one thread each: estimators hold the GIL in places and the numeric stack is
    # pinned to one thread per process (whyflow/threads.py).
    return DaskTaskRunner(cluster_kwargs={"n_workers": count, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None, "env": dict(env or {})})


@contextlib.contextmanager
def _shared_api() -> Iterator[dict[str, str]]:
    """The Prefect API the Dask workers must report to, as environment for them.

    With no PREFECT_API_URL, Prefect runs a temporary API inside each process that needs one; Dask
    workers are separate processes and would each start their own, so their runs would not reach
    this flow (and, on 2 busy cores, their start-up times out). Start the temporary API once here and
    point the workers at it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if PREFECT_API_URL.value():
        yield {"PREFECT_API_URL": PREFECT_API_URL.value()}
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the instance Prefect's own client would start in this process
    server.start(timeout=120)
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield {"PREFECT_API_URL": server.api_url}
    finally:
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()  # the workers' and this flow's last log lines, before their API goes away
        server.stop()


def _one(name: str, params_file: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """One analysis as a subflow; its outcome as data (a failed gate does not stop the others)."""
    # The Dask worker is this analysis's process: nested process pools would oversubscribe the cores
    # (and a daemonic worker cannot start them), so estimators and refuters run in-process here.
    os.environ.setdefault("WHYFLOW_WORKERS", "1")
    from flows.analysis import analysis
    from whyflow.errors import WhyflowError

    try:
        summary = analysis(analysis=name, params_file=params_file, overrides=overrides)
    except WhyflowError as exc:
        return {"analysis": name, "status": "failed", "exit_code": exc.exit_code, "error": str(exc),
                "run_id": getattr(exc, "run_id", None)}
    return {"analysis": name, "status": "ok", "exit_code": 0, "error": None, **summary}


analysis_task = task(_one, name="analysis", cache_policy=NO_CACHE)


@flow(name="analyses", log_prints=False)
def analyses(names: list[str], params_file: str = "params.yaml", overrides: dict[str, Any] | None = None) -> list[dict]:
    """Run several analyses concurrently on the flow's task runner; outcomes in the order given."""
    futures = [analysis_task.submit(name, params_file, overrides or {}) for name in names]
    return [future.result() for future in futures]


def run_many(names: list[str], params_file: str, overrides: dict[str, Any] | None = None,
             address: str | None = None, workers: int | None = None) -> list[dict]:
    """The `analyses` flow on a Dask task runner (local cluster unless an address is given)."""
    from pathlib import Path

    from tasks.record.tracking import client

    # Create (migrate) the tracking store once, here: concurrent first runs on a new SQLite store
    # race through MLflow's schema migrations and fail ("table _alembic_tmp_... already exists").
    client(Path(params_file).resolve().parent).search_experiments(max_results=1)
    with _shared_api() as env:
        runner = dask_task_runner(address, workers or min(len(names), max(1, os.cpu_count() or 1)), env)
        return analyses.with_options(task_runner=runner)(names=names, params_file=params_file, overrides=overrides)
