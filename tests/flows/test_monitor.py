"""The monitor flow and `whyflow monitor`: an event, a failed state and an MLflow tag on a drifted
run; a completed state and nothing else on a stable one."""

from __future__ import annotations

import pytest

from flows.cli import main
from tests.tasks.test_monitor import healthy, history, log_run, project  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


@pytest.fixture
def events(monkeypatch) -> list[dict]:
    import flows.monitor

    emitted: list[dict] = []
    monkeypatch.setattr(flows.monitor, "emit_event", lambda **event: emitted.append(event))
    return emitted


def tags_of(project, run_id: str) -> dict:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}").get_run(run_id).data.tags


def test_drifted_run_alerts_by_event_failed_state_and_mlflow_tag(project, events, prefect_server):  # noqa: F811
    from flows.monitor import monitor

    history(project)
    latest = log_run(project, 1, {**healthy(50.0), "ate.ipw": 75.0})
    state = monitor(params_file=str(project / "params.yaml"), return_state=True)
    assert state.is_failed()
    assert "monitor alert: coupon_618 (run " in state.message
    assert "estimate of ipw moved 52% (from a median of 49.5 over 4 run(s) to 75); limit 30%" in state.message
    assert [e["event"] for e in events] == ["whyflow.monitor.alert"]
    assert events[0]["resource"]["prefect.resource.id"] == "whyflow.analysis.coupon_618"
    assert events[0]["payload"]["run_id"] == latest and len(events[0]["payload"]["alerts"]) == 1
    assert tags_of(project, latest)["whyflow.monitor.alert"].startswith("estimate of ipw moved 52%")


def test_stable_run_stays_quiet_and_the_cli_says_so(project, events, prefect_server, capsys):  # noqa: F811
    history(project)
    latest = log_run(project, 1, healthy(50.5))
    assert main(["monitor", "--params", str(project / "params.yaml")]) == 0
    out = capsys.readouterr().out
    assert "monitor: no alerts" in out and "estimate change ipw" in out
    assert events == [] and "whyflow.monitor.alert" not in tags_of(project, latest)


def test_cli_exits_5_with_one_line_on_an_alert(project, events, prefect_server, capsys):  # noqa: F811
    history(project)
    log_run(project, 1, {**healthy(50.0), "overlap.common_support": 0.5})
    assert main(["monitor", "--params", str(project / "params.yaml")]) == 5
    out, err = capsys.readouterr()
    assert "ALERT" in out
    assert err.startswith("whyflow: error: monitor alert: coupon_618 (run ") and err.count("\n") == 1
    assert "common support 0.500 fell below 0.900" in err


def test_cli_rejects_an_unknown_analysis_before_running(project, capsys):  # noqa: F811
    assert main(["monitor", "nope", "--params", str(project / "params.yaml")]) == 2
    assert "analysis 'nope' not in" in capsys.readouterr().err
