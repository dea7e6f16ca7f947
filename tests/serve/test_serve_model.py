"""End to end (#19): a real run registers its served models; `whyflow serve-model` answers on MLflow's
scoring protocol from a real server process, with the run's own propensity, CATE and policy; bad
requests get a 4xx naming the field and never stop the server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import git, make_project
from whyflow import constants as C

pytestmark = pytest.mark.slow

DECISION = "    decision: {cost: 50, features: [member_level]}\n"
FEATURES = ["historical_gmv", "member_level", "purchase_frequency", "user_activity"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: bytes | dict) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + "/invocations", data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _cli(root: Path, *args: str, **kwargs):
    env = {**os.environ, "WHYFLOW_WORKERS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen([sys.executable, "-m", "flows.cli", *args, "--params", str(root / "params.yaml")], cwd=root,
                            env=env, text=True, **kwargs)


@pytest.fixture(scope="module")
def served(tmp_path_factory, prefect_server):
    """One run of the demo analysis with a decision, and its model served on a free loopback port."""
    from flows.analysis import analysis

    root = make_project(tmp_path_factory.mktemp("serve") / "project", tmp_path_factory.mktemp("remote"))
    params = (root / "params.yaml").read_text().replace("    seed: 42\n", DECISION + "    seed: 42\n", 1).replace(
        "refuters: [placebo, random_common_cause, data_subset]", "refuters: [placebo]", 1)  # refuters are not served
    (root / "params.yaml").write_text(params)
    git(root, "commit", "-qam", "a decision")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.setenv("WHYFLOW_WORKERS", "1")
        summary = analysis(analysis="coupon_618", params_file=str(root / "params.yaml"))
    port = _free_port()
    server = _cli(root, "serve-model", "coupon_618", "--port", str(port), "--max-rows", "1000", "--watch", "1",
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(url + "/ping", timeout=2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"serve-model did not start: {server.communicate()[1][-2000:]}")
            time.sleep(0.3)
    yield {"root": root, "run_id": summary["run_id"], "results": summary["results"], "url": url}
    server.terminate()
    assert server.wait(timeout=30) == 0  # SIGTERM: a clean stop


def _reference(served) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The analysed rows and, per row, what the run itself computed: the estimators' logistic propensity
    on the adjustment set, the CATE written to unit_effects.parquet, the rule decision.json states."""
    from estimators.base import CausalData
    from estimators.propensity import LogisticIRLS

    root, results = served["root"], served["results"]
    frame = pd.read_parquet(root / "data/raw/coupon_618.parquet")
    backdoor = results["identification"]["backdoor"]
    data = CausalData.from_frame(frame, treatment="coupon_sent", outcome="gmv", adjustment=backdoor,
                                 modifiers=["member_level"])
    assert data.n == len(frame)  # nothing dropped: row i of the frame is row i of the run
    effects = pd.read_parquet(root / "results/coupon_618/unit_effects.parquet")
    policy = results["decision"]["policy"]
    assert policy["kind"] == "policy tree", policy  # the demo's rule: a set of member levels
    levels = re.fullmatch(r"treat units with member_level (?:in \{(.*)\}|= (.*))", policy["rule"])
    treated = [s.strip() for s in (levels.group(1) or levels.group(2)).split(",")]
    return frame, {"propensity": LogisticIRLS().fit(data.covariates, data.T).predict_proba(data.covariates)[:, 1],
                   **{c: effects[c].to_numpy() for c in effects.columns if c.startswith("cate.")},
                   "treat": frame["member_level"].isin(treated).to_numpy()}


def test_run_registers_its_models_with_the_version_tags(served):
    from mlflow.tracking import MlflowClient

    store = MlflowClient(tracking_uri=f"sqlite:///{served['root'] / 'mlflow.db'}")
    run = store.get_run(served["run_id"])
    assert run.data.tags["whyflow.serve.status"] == "registered coupon_618 version 1"
    version = next(v for v in store.search_model_versions("name = 'coupon_618'") if int(v.version) == 1)
    assert version.run_id == served["run_id"]
    for tag in C.VERSION_TAGS.values():
        assert version.tags[tag] == run.data.tags[tag], tag
    model = Path(version.source.removeprefix("file://"))
    assert (model / "MLmodel").is_file() and (model / "input_example.json").is_file()
    assert "signature" in (model / "MLmodel").read_text()


def test_a_batch_gets_one_prediction_per_row_equal_to_the_runs_own(served):
    frame, expected = _reference(served)
    rows = np.random.default_rng(3).choice(len(frame), 60, replace=False)
    records = json.loads(frame.iloc[rows][FEATURES].to_json(orient="records"))
    status, answer = _post(served["url"], {"dataframe_records": records})
    assert status == 200, answer
    got = pd.DataFrame(answer["predictions"])
    assert len(got) == 60
    np.testing.assert_allclose(got["propensity"], expected["propensity"][rows], rtol=1e-9)
    cate = [c for c in expected if c.startswith("cate.")]
    assert set(cate) == {"cate.linear_regression", "cate.linear_dml"}
    for column in cate:
        np.testing.assert_allclose(got[column], expected[column][rows], rtol=1e-8, atol=1e-8)
        name = column.removeprefix("cate.")
        assert (got[f"cate_low.{name}"] < got[column]).all() and (got[column] < got[f"cate_high.{name}"]).all()
    assert got["treat"].tolist() == expected["treat"][rows].tolist()
    # strata: at the propensity quantiles ps_stratification cut in the run (its 10 strata)
    quantiles = np.quantile(expected["propensity"], np.linspace(0, 1, 11)[1:-1])
    strata = np.searchsorted(quantiles, expected["propensity"][rows], side="right") + 1
    assert got["stratum"].tolist() == strata.tolist()
    # the same rows as dataframe_split, and through the pyfunc as MLflow loads it: the same answers
    split = json.loads(frame.iloc[rows][FEATURES].to_json(orient="split", index=False))
    status, again = _post(served["url"], {"dataframe_split": split})
    assert status == 200 and again == answer


def test_pyfunc_loads_and_predicts_like_the_server(served):
    import mlflow.pyfunc
    from tasks.serve.registry import find_served_model

    frame, expected = _reference(served)
    source = find_served_model(served["root"], "coupon_618").source
    predicted = mlflow.pyfunc.load_model(source).predict(frame.head(20)[FEATURES])
    np.testing.assert_allclose(predicted["propensity"], expected["propensity"][:20], rtol=1e-9)
    np.testing.assert_allclose(predicted["cate.linear_dml"], expected["cate.linear_dml"][:20], rtol=1e-8)


def test_bad_requests_get_a_4xx_naming_the_field_and_the_server_keeps_serving(served):
    url = served["url"]
    good = {"historical_gmv": 500.0, "member_level": "VIP", "purchase_frequency": 3.0, "user_activity": 0.5}
    without = {k: v for k, v in good.items() if k != "user_activity"}
    cases = [
        ({"dataframe_records": [good, without]}, 400, "missing feature 'user_activity' (row 1)"),
        ({"dataframe_records": [good | {"member_level": "Gold"}]}, 400, "'member_level' has unknown category 'Gold'"),
        ({"dataframe_records": [good | {"historical_gmv": "lots"}]}, 400, "'historical_gmv' must be a number"),
        (b"{not json", 400, "not valid JSON"),
        ({"dataframe_records": [good] * 1001}, 413, "limit of 1000 rows"),
    ]
    for body, status, words in cases:
        code, answer = _post(url, body)
        assert code == status and words in answer["message"], (code, answer)
        assert answer["error_code"] == "BAD_REQUEST"
    code, answer = _post(url, {"dataframe_records": [good]})
    assert code == 200 and len(answer["predictions"]) == 1


def test_ping_health_and_version(served):
    for path in ("/ping", "/health"):
        with urllib.request.urlopen(served["url"] + path, timeout=5) as answer:
            assert answer.status == 200
    with urllib.request.urlopen(served["url"] + "/version", timeout=5) as answer:
        version = json.loads(answer.read())
    assert version["run_id"] == served["run_id"] and version["model_version"] >= 1
    assert version["versions"]["data_md5"] == served["results"]["versions"]["data_md5"]
    assert set(version["features"]) == set(FEATURES)


def test_a_newer_registered_version_is_served_without_a_restart(served):
    """What a redeploy does: a new successful run registers a version; `--watch` serves it."""
    from mlflow.tracking import MlflowClient

    store = MlflowClient(tracking_uri=f"sqlite:///{served['root'] / 'mlflow.db'}")
    (first,) = [v for v in store.search_model_versions("name = 'coupon_618'") if int(v.version) == 1]
    newer = store.create_model_version("coupon_618", first.source, run_id=first.run_id, tags=first.tags)
    deadline = time.monotonic() + 60
    while True:
        with urllib.request.urlopen(served["url"] + "/version", timeout=5) as answer:
            if json.loads(answer.read())["model_version"] == int(newer.version):
                break
        assert time.monotonic() < deadline, "the newer version was not picked up"
        time.sleep(0.5)
    code, answer = _post(served["url"], {"dataframe_records": [
        {"historical_gmv": 500.0, "member_level": "VIP", "purchase_frequency": 3.0, "user_activity": 0.5}]})
    assert code == 200 and len(answer["predictions"]) == 1


def test_unknown_analysis_run_or_version_exits_2_naming_it(served, capsys):
    from flows.cli import main

    params = str(served["root"] / "params.yaml")
    for args, words in [(["nope"], "analysis 'nope' has no served model"),
                        (["coupon_618", "--run", "0" * 32], f"run '{'0' * 32}' has no served model"),
                        (["coupon_618", "--version", "7"], "no model version 7")]:
        assert main(["serve-model", *args, "--params", params]) == 2
        err = capsys.readouterr().err
        assert words in err and len(err.strip().splitlines()) == 1, err
