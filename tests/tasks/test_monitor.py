"""Monitoring checks on prepared MLflow runs: drift, overlap, balance and data age."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tasks.monitor import MonitorSpec, alert_message, check_analysis, load_monitor_spec
from whyflow.errors import SpecError
from whyflow.spec import load_spec

PARAMS = """\
analyses:
  coupon_618:
    data: {path: data.csv}
    treatment: t
    outcome: y
    confounders: [x]
    gates: {min_common_support: 0.9}
"""
NOW = time.time()


@pytest.fixture
def project(tmp_path, monkeypatch, empty_mlflow_db) -> Path:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copy(empty_mlflow_db, tmp_path / "mlflow.db")
    (tmp_path / "params.yaml").write_text(PARAMS)
    (tmp_path / "data.csv").write_text("t,y,x\n0,1,2\n")
    return tmp_path


def log_run(project: Path, minutes_ago: float, metrics: dict, status: str = "FINISHED", tags: dict | None = None) -> str:
    """A run as the analysis flow leaves it: the analysis tag, metrics, a terminal status."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    found = client.get_experiment_by_name("coupon_618")
    experiment = found.experiment_id if found else client.create_experiment("coupon_618")
    start = int((NOW - minutes_ago * 60) * 1000)
    run = client.create_run(experiment, start_time=start, tags={"whyflow.analysis": "coupon_618", **(tags or {})})
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    if status != "RUNNING":
        client.set_terminated(run.info.run_id, status=status, end_time=start + 1000)
    return run.info.run_id


def healthy(ate: float) -> dict:
    return {"ate.ipw": ate, "ate.linear_dml": ate - 1.0, "overlap.common_support": 0.99, "balance.max_smd_after": 0.03}


def history(project: Path) -> None:
    for minutes, ate in ((50, 49.0), (40, 51.0), (30, 50.0), (20, 48.5)):
        log_run(project, minutes, healthy(ate))


def check(project: Path, **settings):
    spec = load_spec(project / "params.yaml", "coupon_618")
    return check_analysis(spec, MonitorSpec(**settings), now=NOW)


def test_stable_latest_run_raises_no_alert(project):
    history(project)
    latest = log_run(project, 1, healthy(52.0))  # 4% from the median of 49.5
    health = check(project)
    assert health.run_id == latest and len(health.baseline_runs) == 4
    assert health.alerts == [] and alert_message([health]) == ""
    assert {c.name for c in health.checks} == {"estimate change ipw", "estimate change linear_dml", "common support",
                                               "max SMD after weighting", "data age (hours)"}


def test_drifted_latest_run_raises_every_alert(project):
    history(project)
    os.utime(project / "data.csv", (NOW - 30 * 3600, NOW - 30 * 3600))
    log_run(project, 1, {"ate.ipw": 70.0, "ate.linear_dml": 48.9, "overlap.common_support": 0.82,
                         "balance.max_smd_after": 0.14})
    health = check(project)
    messages = [c.message for c in health.alerts]
    assert messages == [
        "estimate of ipw moved 41% (from a median of 49.5 over 4 run(s) to 70); limit 30%",
        "common support 0.820 fell below 0.900",
        "max |SMD| after weighting 0.140 rose above 0.100",
        "source data is 30.0 h old; limit 24 h",
    ]
    assert alert_message([health]).startswith(f"coupon_618 (run {health.run_id}): estimate of ipw moved 41%")


def test_thresholds_come_from_the_monitor_section(project):
    history(project)
    log_run(project, 1, healthy(60.0))  # 21% move
    assert [c.name for c in check(project).alerts] == []
    assert [c.name for c in check(project, max_estimate_change=0.2).alerts] == ["estimate change ipw",
                                                                                  "estimate change linear_dml"]
    assert [c.name for c in check(project, min_common_support=0.995).alerts] == ["common support"]


def test_reproductions_and_running_runs_are_not_the_latest(project):
    history(project)
    log_run(project, 5, healthy(80.0), tags={"whyflow.reproduces": "x"})
    log_run(project, 2, healthy(80.0), status="RUNNING")
    health = check(project)
    assert health.alerts == [] and len(health.baseline_runs) == 3


def test_failed_gate_run_is_checked_for_overlap_without_estimates(project):
    history(project)
    log_run(project, 1, {"overlap.common_support": 0.7, "balance.max_smd_after": 0.2}, status="FAILED")
    health = check(project)
    assert health.status == "FAILED"
    assert [c.name for c in health.alerts] == ["common support", "max SMD after weighting"]


def test_an_analysis_without_runs_is_quiet(project):
    health = check(project)
    assert health.run_id is None and health.checks == []


def test_a_zero_baseline_counts_any_move_as_drift(project):
    log_run(project, 10, {"ate.ipw": 0.0})
    log_run(project, 1, {"ate.ipw": 0.5})
    assert [c.observed for c in check(project, max_data_age_hours=None).alerts] == [float("inf")]


def test_monitor_section_defaults_and_values(project):
    assert load_monitor_spec(project / "params.yaml") == MonitorSpec()
    (project / "params.yaml").write_text(PARAMS + "monitor: {max_estimate_change: 0.5, schedule: '0 * * * *'}\n")
    settings = load_monitor_spec(project / "params.yaml")
    assert settings.max_estimate_change == 0.5 and settings.schedule == "0 * * * *"
    assert load_spec(project / "params.yaml", "coupon_618").name == "coupon_618"  # the analyses still load


@pytest.mark.parametrize("section, message", [
    ("monitor: {max_estimate_changes: 0.3}", "monitor: unknown key 'max_estimate_changes'"),
    ("monitor: {max_estimate_change: -1}", "monitor: key 'max_estimate_change': Input should be greater than 0; got -1"),
    ("monitor: {baseline_runs: 0}", "monitor: key 'baseline_runs': Input should be greater than or equal to 1; got 0"),
    ("monitor: [0.3]", "'monitor' in"),
])
def test_bad_monitor_section_is_a_one_line_spec_error(project, section, message):
    (project / "params.yaml").write_text(PARAMS + section + "\n")
    with pytest.raises(SpecError) as caught:
        load_monitor_spec(project / "params.yaml")
    assert message in str(caught.value) and "\n" not in str(caught.value)
