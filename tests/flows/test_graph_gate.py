"""End to end: the graph's implied-independence test is logged on every run, and its gate exits 3."""

import json

import pytest

from flows.cli import main
from tests.flows.test_run import mlflow_client, run_id_of

pytestmark = pytest.mark.slow

WRONG = """digraph { coupon_sent -> gmv;
  historical_gmv -> coupon_sent; historical_gmv -> gmv; historical_gmv -> purchase_frequency;
  user_activity -> coupon_sent; user_activity -> gmv; user_activity -> purchase_frequency;
  member_level -> coupon_sent; member_level -> gmv; purchase_frequency -> coupon_sent; purchase_frequency -> gmv; }"""


def run(project, capsys, *args: str):
    code = main(["run", "coupon_618", "--params", str(project / "params.yaml"), "--update-results",
                 "--set", "refute_simulations=2", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_graph_tests_are_logged_and_gate_passes(project, capsys, prefect_server):
    code, out, err = run(project, capsys, "--set", "gates.min_graph_pass_share=0.5")
    assert code == 0, err
    metrics = mlflow_client(project).get_run(run_id_of(out)).data.metrics
    assert metrics["graph.implied_independences"] == 2 and metrics["graph.violated_share"] == 0.0
    assert metrics["graph.random_violated_share"] > 0.5 and metrics["graph.random_p_value"] < 0.05
    tested = json.loads((project / "results/coupon_618/graph_tests.json").read_text())
    assert tested["rows"] == tested["rows_total"] == 8000 and tested["method"] == "linear"


def test_graph_gate_failure_exits_3_and_keeps_the_evidence(project, capsys, prefect_server):
    (project / "data/graphs/wrong.dot").write_text(WRONG)
    code, out, err = run(project, capsys, "--set", "graph=data/graphs/wrong.dot",
                         "--set", "gates.min_graph_pass_share=0.9")
    assert code == 3, err
    assert err.strip().splitlines()[-1].startswith("whyflow: error: graph test gate failed: ")
    client = mlflow_client(project)
    logged = client.get_run(run_id_of(out))
    assert logged.info.status == "FAILED" and "min_graph_pass_share 0.9" in logged.data.tags["whyflow.failure"]
    assert logged.data.metrics["graph.violated_share"] > 0.1
    assert "results/graph_tests.json" in {a.path for a in client.list_artifacts(logged.info.run_id, "results")}
    assert not (project / "results" / "coupon_618").exists()
