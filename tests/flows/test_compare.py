"""`whyflow compare A B`: a run, then a new data draw, a graph that loses a confounder and a new seed
committed together, a second run; the comparison names each factor's share, the shares add up to
B - A, and the graph (the change built to move the estimate) has the largest share."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import git, whyflow_cli

ESTIMATORS = ("linear_regression", "ipw")


def _run_id(done) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("mlflow_run_id="), last
    return last.split("=", 1)[1]


@pytest.fixture
def served(project, tmp_path, monkeypatch, prefect_api_url):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setenv("PREFECT_API_URL", prefect_api_url)
    return project


@pytest.mark.slow
def test_compare_attributes_the_move_to_the_graph(served, capsys):
    from data.generate import write_dataset

    project = served
    params = project / "params.yaml"  # the runs without refuters: compare replays none anyway
    params.write_text(params.read_text().replace("refuters: [placebo, random_common_cause, data_subset]",
                                                 "refuters: []")
                      .replace("estimators: [linear_regression, ps_stratification, ipw, linear_dml]",
                               f"estimators: [{', '.join(ESTIMATORS)}]"))
    git(project, "commit", "-qam", "no refuters, two estimators")
    first = _run_id(whyflow_cli(project, "run", "coupon_618"))
    write_dataset("coupon_618", project / "data" / "raw", rows=8000, seed=12)  # a new draw of the same process
    graph = project / "data" / "graphs" / "coupon_618.dot"
    text = graph.read_text()
    for edge in ("user_activity -> coupon_sent;", "user_activity -> gmv;", "user_activity -> purchase_frequency;"):
        assert edge in text
        text = text.replace(edge, "")  # activity no longer drawn as a confounder: left out of the adjustment
    graph.write_text(text)
    params.write_text(params.read_text().replace("seed: 42", "seed: 43"))
    git(project, "commit", "-qam", "new data draw, graph without activity's edges, seed 43")
    second = _run_id(whyflow_cli(project, "run", "coupon_618"))

    done = whyflow_cli(project, "compare", first, second, "--json")
    compare_run = _run_id(done)
    result = json.loads(done.stdout.strip().rsplit("\n", 1)[0])
    assert result["runs"] == [first, second]
    assert result["changes"]["changed"] == {"data": True, "graph": True, "params": True, "code": False}
    assert result["changes"]["graph"]["design_a"]["backdoor"] != result["changes"]["graph"]["design_b"]["backdoor"]
    assert [p["key"] for p in result["changes"]["params"]] == ["seed"]
    assert set(result["estimates"]) == set(ESTIMATORS)
    for name, e in result["estimates"].items():
        assert set(e["attribution"]) == {"data", "graph", "params", "code"} and e["method"] == "shapley"
        assert abs(sum(e["attribution"].values()) - (e["b"] - e["a"])) < 1e-9
        assert e["reproduced"] == {"a": True, "b": True}, name  # the corners replay the logged runs exactly
        assert e["attribution"]["code"] == 0.0  # same code: its combinations are their twins
        largest = max(e["attribution"], key=lambda f: abs(e["attribution"][f]))
        assert largest == "graph", (name, e["attribution"])
        assert set(e["interactions"]) == {"first_order", "residual", "pairwise"}
    assert sum(len(r["combinations"]) for r in result["replays"]) == 16 and len(result["replays"]) == 8

    from mlflow.tracking import MlflowClient

    store = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    logged = store.get_run(compare_run)
    assert logged.data.tags["whyflow.compares"] == f"{first},{second}"
    assert logged.data.metrics["compare.share.graph.linear_regression"] == \
        result["estimates"]["linear_regression"]["attribution"]["graph"]
    assert {a.path for a in store.list_artifacts(compare_run)} == {"compare.html", "compare.json"}

    from flows.compare_cli import print_comparison

    print_comparison(result)  # the terminal table of the same result
    table = capsys.readouterr().out
    for word in ("data", "graph", "params", "code", "linear_regression", "SMD", "interaction"):
        assert word in table, word

    # the monitor's estimate-change alert carries the same attribution (its replays are the cached ones)
    params.write_text(params.read_text() + "\nmonitor: {max_estimate_change: 0.02, max_data_age_hours: null}\n")
    alerted = whyflow_cli(project, "monitor", "coupon_618")
    assert alerted.returncode == 5, alerted.stderr[-3000:]
    lines = [line for line in alerted.stdout.splitlines() if " moved " in line and "since run" in line]
    assert {line.split(": ")[1].split(" moved")[0] for line in lines} == set(ESTIMATORS), alerted.stdout
    graph_share = result["estimates"]["ipw"]["attribution"]["graph"]
    assert any(line.startswith("coupon_618: ipw moved") and f"graph {graph_share:+.4g}" in line for line in lines)


def test_unknown_run_is_exit_2(project, empty_mlflow_db):
    shutil.copy(empty_mlflow_db, project / "mlflow.db")
    done = whyflow_cli(project, "compare", "0" * 32, "1" * 32)
    assert done.returncode == 2 and f"run '{'0' * 32}' is not in the MLflow store" in done.stderr


def test_a_run_compared_with_itself_is_refused(tmp_path):
    from tasks.compare.runs import load_pair
    from whyflow.errors import ReproductionError

    with pytest.raises(ReproductionError, match="two different runs") as refused:
        load_pair(tmp_path, "a" * 32, "a" * 32)
    assert refused.value.exit_code == 2


def test_monitor_attaches_the_attribution_of_an_estimate_change(monkeypatch):
    import flows.compare
    from tasks.monitor import AnalysisHealth, Check
    from whyflow.errors import ReproductionError

    moved = Check("estimate change ipw", 0.5, 0.3, False, "estimate of ipw moved 50%")
    health = AnalysisHealth("demo", "B", "FINISHED", ["A", "older"], [moved])
    calls = []

    def fake_compare(**kwargs):
        calls.append(kwargs)
        return {"mlflow_run_id": "C", "estimates": {"ipw": {"a": 1.0, "b": 1.5, "attribution": {"data": 0.5},
                                                            "method": "shapley", "interactions": None}}}

    monkeypatch.setattr(flows.compare, "compare", fake_compare)
    explained = flows.compare.explain_alert("params.yaml", health)
    assert calls == [{"run_a": "A", "run_b": "B", "params_file": "params.yaml"}]
    assert explained == {"previous_run": "A", "compare_run": "C", "estimates": {
        "ipw": {"a": 1.0, "b": 1.5, "attribution": {"data": 0.5}, "method": "shapley"}}}

    def failing(**kwargs):
        raise ReproductionError("run 'A' was not logged by whyflow")

    monkeypatch.setattr(flows.compare, "compare", failing)
    assert flows.compare.explain_alert("params.yaml", health)["error"] == "run 'A' was not logged by whyflow"
    support = Check("common support", 0.5, 0.9, False, "common support fell")
    assert flows.compare.explain_alert("params.yaml", AnalysisHealth("demo", "B", "FINISHED", ["A"], [support])) is None
