"""The compare flow: what changed between two runs and why the estimate moved, by replaying every
combination of their data, graph, params and code. Only wiring: the steps are plain functions in
tasks/compare/."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow

from flows.retry import step
from tasks.compare import attribution, replay, report, runs

__all__ = ["compare", "explain_alert", "prefect_api_url"]


load_pair_t = step(runs.load_pair, "load-runs")
choose_t = step(attribution.choose_estimators, "choose-estimators")
fetch_t = step(runs.fetch_versions, "fetch-versions", io=True)
changes_t = step(runs.what_changed, "what-changed")
plan_t = step(replay.plan_replays, "plan-replays")
replay_t = step(replay.run_replays, "replay")
attribute_t = step(attribution.attribute_estimates, "attribute")
log_t = step(report.log_comparison, "log-comparison", io=True)


def prefect_api_url() -> str | None:
    """The API this flow run talks to (the temporary server when none is configured), for the replay
    workers: one Prefect start for all of them."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        url = str(client.api_url)
    return url if url.startswith("http") and "ephemeral-prefect" not in url else None


@flow(name="compare", log_prints=False)
def compare(run_a: str, run_b: str, estimators: list[str] | None = None, params_file: str = "params.yaml",
            workers: int = 2) -> dict:
    """Attribute the move of each estimate from run A to run B to data, graph, params and code."""
    base_dir = Path(params_file).resolve().parent
    pair = load_pair_t(base_dir, run_a, run_b)
    names = choose_t(pair, estimators)
    snapshots = fetch_t(base_dir, pair)
    changes = changes_t(base_dir, pair, snapshots)
    by_subset = plan_t(pair.analysis, pair.versions_a, pair.versions_b, changes.same_code,
                       names if estimators else None)
    started = time.perf_counter()
    results = replay_t(base_dir, by_subset, {k: Path(v) for k, v in snapshots.items()}, prefect_api_url(), workers)
    seconds = time.perf_counter() - started
    comparisons = attribute_t(pair, by_subset, results, names)
    result = attribution.comparison_result(pair, changes, comparisons, results, seconds)
    result["mlflow_run_id"] = log_t(base_dir, result)
    return result


def explain_alert(params_file: str, health) -> dict | None:
    """For `whyflow monitor`: when an estimate moved past its limit, why, against the previous run
    (the compare flow as a subflow). None without an estimate-change alert or an earlier run; an
    explanation that cannot be made (e.g. a run not logged by whyflow) is recorded as its error,
    and the monitor's alert stands either way."""
    import logging

    from whyflow.errors import WhyflowError

    moved = [c for c in health.alerts if c.name.startswith("estimate change")]
    if not moved or not health.run_id or not health.baseline_runs:
        return None
    previous = health.baseline_runs[0]
    try:
        result = compare(run_a=previous, run_b=health.run_id, params_file=params_file)
    except WhyflowError as exc:
        logging.getLogger(__name__).warning("no attribution for %s against %s: %s", health.run_id, previous, exc)
        return {"previous_run": previous, "error": str(exc)}
    return {"previous_run": previous, "compare_run": result["mlflow_run_id"],
            "estimates": {name: {k: e[k] for k in ("a", "b", "attribution", "method")}
                          for name, e in result["estimates"].items()}}

