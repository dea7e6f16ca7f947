"""The reproduce flow: re-run a logged MLflow run from its recorded versions and compare.

Only wiring: the steps are plain functions in tasks/record/reproduce.py.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from flows.retry import step
from tasks.record import reproduce as steps
from tasks.data.snapshot import fetch_snapshot
from tasks.record.metrics import is_timing
from tasks.record.tracking import set_tags
from whyflow.constants import TAG_REPRODUCES

__all__ = ["reproduce"]


load_logged_run_t = step(steps.load_logged_run, "load-logged-run")
fetch_snapshot_t = step(fetch_snapshot, "fetch-snapshot")
checkout_t = step(steps.checkout_commit, "checkout-commit")
rerun_t = step(steps.rerun, "rerun")
compare_t = step(steps.compare_runs, "compare")


@flow(name="reproduce", log_prints=False)
def reproduce(run_id: str, params_file: str = "params.yaml") -> dict:
    """Re-execute a logged run with its code, data snapshot, spec and seed; compare every metric."""
    base_dir = Path(params_file).resolve().parent
    logged = load_logged_run_t(base_dir, run_id)
    snapshot = fetch_snapshot_t(logged.versions["data_md5"], base_dir)
    worktree = checkout_t(base_dir, logged.versions["git_commit"], logged.diff)
    try:
        new_run = rerun_t(logged, worktree, snapshot, base_dir)
    finally:
        steps.remove_worktree(base_dir, worktree)
    set_tags(base_dir, new_run, {TAG_REPRODUCES: run_id})
    reproduced = load_logged_run_t(base_dir, new_run)
    differences = compare_t(logged, reproduced)
    return {
        "original": run_id,
        "run_id": new_run,
        "compared_metrics": sum(not is_timing(k) for k in logged.metrics),
        "differences": [d.__dict__ for d in differences],
        "environment_changes": steps.environment_changes(logged.environment),
        "environment_matches": logged.versions["env_sha256"] == reproduced.versions["env_sha256"],
    }
