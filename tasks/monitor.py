"""Monitoring (reference 000, section VII.III): compare each analysis's latest MLflow run with the
runs before it and flag drift, lost overlap, imbalance after weighting and stale data.

Checks on the latest finished or failed run of an analysis (reproductions excluded):
- estimate moved: |latest - median of the previous runs| / |median| > max_estimate_change, per
  estimator logged in both (the article alerts on a daily move above 30%);
- common support below the threshold (the analysis's own gate unless `monitor:` sets one);
- max |SMD| after weighting above max_smd_after (0.1, the usual balance rule);
- data age: for a file source, now minus the newest modification time of the file(s); a SQL source
  has no portable modification time, so the latest run's start (when it was snapshotted) stands in.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tasks.record import tracking
from tasks.record.metrics import EFFECT_PREFIXES
from whyflow import constants as C
from whyflow.errors import SpecError, WhyflowError
from whyflow.spec import AnalysisSpec, list_analyses

__all__ = ["MonitorSpec", "Check", "AnalysisHealth", "MonitorAlert", "load_monitor_spec", "check_analysis",
           "alert_message", "tag_alert"]


class MonitorSpec(BaseModel):
    """The `monitor:` section of params.yaml (every key optional)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_estimate_change: float = Field(0.30, gt=0.0)  # share of the previous runs' median
    baseline_runs: int = Field(5, ge=1, le=100)       # how many earlier runs form the baseline
    min_common_support: float | None = Field(None, ge=0.0, le=1.0)  # None: each analysis's gate
    max_smd_after: float = Field(0.1, gt=0.0)
    max_data_age_hours: float | None = Field(24.0, gt=0.0)  # None: not checked
    schedule: str | None = None                      # cron for the served monitor deployment
    explain: bool = True  # an estimate-change alert is attributed to data/graph/params/code (whyflow compare)


class MonitorAlert(WhyflowError):
    """At least one monitored analysis crossed a threshold."""

    exit_code = C.EXIT_ALERT

    def __init__(self, message: str, report: list[dict] | None = None):
        super().__init__(message)
        self.report = report or []


@dataclass(frozen=True)
class Check:
    name: str
    observed: float | None
    threshold: float | None
    passed: bool
    message: str = ""


@dataclass(frozen=True)
class AnalysisHealth:
    analysis: str
    run_id: str | None
    status: str | None
    baseline_runs: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def alerts(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"alerts": [c.message for c in self.alerts]}


def load_monitor_spec(params_path: str | Path) -> MonitorSpec:
    """The validated `monitor:` section; defaults when the file has none."""
    list_analyses(params_path)  # the file exists and has analyses: same errors as `whyflow run`
    raw = yaml.safe_load(Path(params_path).read_text()).get("monitor") or {}
    if not isinstance(raw, dict):
        raise SpecError(f"'monitor' in {str(params_path)!r} must be a mapping of thresholds; got {type(raw).__name__}")
    try:
        return MonitorSpec(**raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise SpecError(f"monitor: unknown key '{loc}'") from None
        raise SpecError(f"monitor: key '{loc}': {first['msg']}; got {first.get('input')!r}") from None


def _runs(spec: AnalysisSpec, limit: int) -> list:
    store = tracking.client(spec.base_dir)
    experiment = store.get_experiment_by_name(spec.name)
    if experiment is None:
        return []
    runs = store.search_runs([experiment.experiment_id], filter_string="attributes.status != 'RUNNING'",
                             order_by=["attributes.start_time DESC"], max_results=limit + 20)
    return [r for r in runs if C.TAG_REPRODUCES not in r.data.tags][:limit]


def _relative_change(latest: float, baseline: float) -> float:
    if baseline == 0.0:
        return 0.0 if latest == 0.0 else math.inf
    return abs(latest - baseline) / abs(baseline)


def _estimate_checks(latest, previous: list, limit: float) -> list[Check]:
    checks = []
    for key in sorted(k for k in latest.data.metrics if k.split(".", 1)[0] in EFFECT_PREFIXES):
        history = [r.data.metrics[key] for r in previous if key in r.data.metrics]
        if not history:
            continue
        baseline = statistics.median(history)
        change = _relative_change(latest.data.metrics[key], baseline)
        estimand, estimator = key.split(".", 1)
        name = estimator if estimand == "ate" else f"{estimator} ({estimand.upper()})"
        checks.append(Check(f"estimate change {name}", change, limit, change <= limit,
                            f"estimate of {estimator} moved {change:.0%} (from a median of {baseline:.4g} over "
                            f"{len(history)} run(s) to {latest.data.metrics[key]:.4g}); limit {limit:.0%}"))
    return checks


def _data_age_hours(spec: AnalysisSpec, latest, now: float) -> float:
    if spec.data.path is not None:
        path = spec.resolve(spec.data.path)
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
        if files:
            return (now - max(p.stat().st_mtime for p in files)) / 3600.0
    return (now - latest.info.start_time / 1000.0) / 3600.0


def check_analysis(spec: AnalysisSpec, settings: MonitorSpec, now: float | None = None) -> AnalysisHealth:
    """Run every check on the analysis's latest run; no runs yet is healthy (nothing to compare)."""
    now = time.time() if now is None else now
    runs = _runs(spec, settings.baseline_runs + 1)
    if not runs:
        return AnalysisHealth(spec.name, None, None)
    latest, earlier = runs[0], runs[1:]
    metrics = latest.data.metrics
    checks: list[Check] = []
    if latest.info.status == "FINISHED":
        previous = [r for r in earlier if r.info.status == "FINISHED"]
        checks += _estimate_checks(latest, previous, settings.max_estimate_change)
    support_floor = settings.min_common_support
    if support_floor is None:
        support_floor = spec.gates.min_common_support
    if "overlap.common_support" in metrics:
        value = metrics["overlap.common_support"]
        checks.append(Check("common support", value, support_floor, value >= support_floor,
                            f"common support {value:.3f} fell below {support_floor:.3f}"))
    if "balance.max_smd_after" in metrics:
        value = metrics["balance.max_smd_after"]
        checks.append(Check("max SMD after weighting", value, settings.max_smd_after, value <= settings.max_smd_after,
                            f"max |SMD| after weighting {value:.3f} rose above {settings.max_smd_after:.3f}"))
    if settings.max_data_age_hours is not None:
        age = _data_age_hours(spec, latest, now)
        checks.append(Check("data age (hours)", age, settings.max_data_age_hours, age <= settings.max_data_age_hours,
                            f"source data is {age:.1f} h old; limit {settings.max_data_age_hours:g} h"))
    return AnalysisHealth(spec.name, latest.info.run_id, latest.info.status,
                          [r.info.run_id for r in earlier], checks)


def alert_message(health: list[AnalysisHealth]) -> str:
    """One line naming every analysis and threshold crossed; empty when all is well."""
    parts = [f"{h.analysis} (run {h.run_id}): " + "; ".join(c.message for c in h.alerts) for h in health if h.alerts]
    return " | ".join(parts)


def tag_alert(spec: AnalysisSpec, health: AnalysisHealth) -> None:
    """Mark the latest run in MLflow, so the alert shows next to the run it concerns."""
    if health.run_id and health.alerts:
        message = "; ".join(c.message for c in health.alerts)
        tracking.set_tags(spec.base_dir, health.run_id, {C.TAG_MONITOR_ALERT: message[:5000]})
