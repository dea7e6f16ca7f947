"""The monitor flow: check each analysis's latest run against the runs before it (tasks/monitor.py)
and alert three ways: a Prefect event, a failed flow state naming what crossed which threshold, and
an MLflow tag on the run concerned."""

from __future__ import annotations

import logging

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from flows.compare import explain_alert
from flows.retry import retry_options
from tasks import monitor as steps
from whyflow.spec import list_analyses, load_spec

__all__ = ["monitor", "ALERT_EVENT"]

log = logging.getLogger(__name__)
ALERT_EVENT = "whyflow.monitor.alert"

check_t = task(steps.check_analysis, name="check", cache_policy=NO_CACHE, **retry_options())
tag_t = task(steps.tag_alert, name="tag-alert", cache_policy=NO_CACHE, **retry_options())


def _emit(health: steps.AnalysisHealth, attribution: dict | None = None) -> None:
    related = [{"prefect.resource.id": f"mlflow.run.{health.run_id}", "prefect.resource.role": "mlflow-run"}]
    emit_event(event=ALERT_EVENT,
               resource={"prefect.resource.id": f"whyflow.analysis.{health.analysis}",
                         "prefect.resource.name": health.analysis},
               related=related if health.run_id else None,
               payload={"run_id": health.run_id, "alerts": [c.message for c in health.alerts],
                        "checks": [c.__dict__ for c in health.checks], "attribution": attribution})


@flow(name="monitor", log_prints=False)
def monitor(params_file: str = "params.yaml", analyses: list[str] | None = None) -> list[dict]:
    """Check the latest run of each analysis (all in params.yaml by default); fail with the alerts."""
    settings = steps.load_monitor_spec(params_file)
    names = analyses or list_analyses(params_file)
    report, attributions = [], {}
    for name in names:
        spec = load_spec(params_file, name)
        health = check_t(spec, settings)
        for check in health.checks:
            log.info("%s: %s = %s (threshold %s): %s", name, check.name, check.observed, check.threshold,
                     "ok" if check.passed else "ALERT")
        if health.alerts:
            # why an estimate moved (flows/compare.py): up to 16 replays, so `monitor.explain: false` skips it
            attributions[name] = explain_alert(params_file, health) if settings.explain else None
            _emit(health, attributions[name])
            tag_t(spec, health)
        report.append(health)
    message = steps.alert_message(report)
    if message:
        raise steps.MonitorAlert(f"monitor alert: {message}",
                                 [h.to_json() | {"attribution": attributions.get(h.analysis)} for h in report])
    return [h.to_json() for h in report]
