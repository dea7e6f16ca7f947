"""The served flows' typed parameters, prefect.yaml, and the CLI's bad-input paths (no server)."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from flows.cli import main
from tests.conftest import PARAMS, REPO


@pytest.fixture
def params(tmp_path):
    (tmp_path / "params.yaml").write_text(PARAMS)
    return tmp_path / "params.yaml"


def test_analysis_parameter_is_a_choice_among_the_params_file(params):
    from flows.serve import build_flows

    flows = build_flows(params)
    schema = flows["analysis"].parameters.model_dump()
    assert schema["properties"]["analysis"]["enum"] == ["coupon_618", "churn"]
    assert schema["required"] == ["analysis"]
    assert schema["properties"]["analysis"]["description"] == "the analysis of params.yaml to run"
    overrides = schema["definitions"]["AnalysisOverrides"]["properties"]
    assert "ipw" in overrides["estimators"]["anyOf"][0]["items"]["enum"]
    assert {f.name for f in flows.values()} == {"analysis", "reproduce", "monitor", "compare"}
    assert flows["compare"].parameters.model_dump()["required"] == ["run_a", "run_b"]
    assert flows["reproduce"].parameters.model_dump()["required"] == ["run_id"]


def test_values_outside_the_choices_are_rejected_before_the_run(params):
    from prefect.exceptions import ParameterTypeError

    from flows.serve import build_flows

    analysis = build_flows(params)["analysis"]
    assert analysis.validate_parameters({"analysis": "churn"})["analysis"] == "churn"
    with pytest.raises(ParameterTypeError):
        analysis.validate_parameters({"analysis": "nope"})
    with pytest.raises(ParameterTypeError):
        analysis.validate_parameters({"analysis": "churn", "overrides": {"estimators": ["no_such_estimator"]}})


def test_overrides_become_the_dotted_keys_of_whyflow_run_set():
    from flows.serve import AnalysisOverrides

    overrides = AnalysisOverrides(estimators=["ipw"], seed=7, gates={"min_common_support": 0.8})
    assert overrides.as_overrides() == {"estimators": ["ipw"], "seed": 7, "gates.min_common_support": 0.8}
    assert AnalysisOverrides().as_overrides() == {}
    with pytest.raises(ValidationError):
        AnalysisOverrides(seed=-1)
    with pytest.raises(ValidationError):
        AnalysisOverrides(gates={"min_common_suport": 0.8})


def test_prefect_yaml_names_the_deployed_entrypoints(params, monkeypatch):
    from prefect.flows import load_flow_from_entrypoint

    config = yaml.safe_load((REPO / "prefect.yaml").read_text())
    entrypoints = [d["entrypoint"] for d in config["deployments"]]
    assert entrypoints == ["flows/deployed.py:analysis", "flows/deployed.py:reproduce", "flows/deployed.py:monitor",
                           "flows/deployed.py:compare"]
    assert {d["name"] for d in config["deployments"]} == {"whyflow"}
    assert all(d["work_pool"]["name"] == "whyflow" for d in config["deployments"])
    monkeypatch.setenv("WHYFLOW_PARAMS", str(params))
    for entrypoint in entrypoints:
        loaded = load_flow_from_entrypoint(str(REPO / entrypoint))
        assert loaded.name == entrypoint.rsplit(":", 1)[1]


def test_serve_needs_a_prefect_server(params, capsys, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert main(["serve", "--params", str(params)]) == 2
    assert "PREFECT_API_URL must point at a Prefect server" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["run"], "`whyflow run` needs an analysis name, several names, or --all; got none"),
    (["run", "coupon_618", "churn", "--snapshot", "s.parquet"], "--snapshot must go with exactly one analysis; got 2"),
    (["run", "coupon_618", "nope"], "analysis 'nope' not in"),
    (["run", "coupon_618", "churn", "--set", "seed=-1"], "analysis 'coupon_618': key 'seed'"),
    (["serve", "--limit", "0"], "--limit must be a positive number of flow runs; got 0"),
])
def test_bad_input_exits_2_before_any_cluster_or_server(params, capsys, monkeypatch, args, message):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # never reached: input fails first
    assert main([*args, "--params", str(params)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_failed_gate_publishes_its_reason_and_still_fails_the_run(params, monkeypatch, prefect_server):
    import flows.analysis
    import flows.artifacts
    from flows.serve import build_flows
    from whyflow.errors import GateFailed

    published = []
    monkeypatch.setattr(flows.artifacts, "publish_failure", lambda *args: published.append(args))

    class Stopped:
        @staticmethod
        def fn(**kwargs):
            raise GateFailed("overlap gate failed: common support 0.71 < 0.9", run_id="r1")

    monkeypatch.setattr(flows.analysis, "analysis", Stopped)
    state = build_flows(params)["analysis"](analysis="churn", return_state=True)
    assert state.is_failed() and "common support 0.71 < 0.9" in state.message
    assert published == [(params.parent, "churn", "overlap gate failed: common support 0.71 < 0.9", "r1")]


def test_serve_gives_up_on_an_api_that_never_answers():
    from flows.serve import wait_for_api
    from whyflow.errors import WhyflowError

    with pytest.raises(WhyflowError, match=r"the Prefect API at http://127.0.0.1:9/api did not answer within 0 s"):
        wait_for_api("http://127.0.0.1:9/api", timeout=0)
