"""End to end: `whyflow run` on a throwaway project, through the real flow, MLflow, DVC and GX."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.cli import main
from tasks.graph.model import load_graph
from tasks.data.snapshot import file_md5
from tests.conftest import git
from whyflow.spec import load_spec
from whyflow.versions import environment_sha256

pytestmark = pytest.mark.slow


def run(project: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["run", args[0], "--params", str(project / "params.yaml"), *args[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def mlflow_client(project: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def run_id_of(out: str) -> str:
    last = out.strip().splitlines()[-1]
    match = re.fullmatch(r"mlflow_run_id=([0-9a-f]{32})", last)
    assert match, last
    return match.group(1)


def test_demo_run_is_logged_with_its_versions_and_covers_the_truth(project, capsys, prefect_server):
    decision = "decision={cost: 50, features: [member_level]}"
    code, out, err = run(project, capsys, "coupon_618", "--set", decision, "--update-results")
    assert code == 0, err
    run_id = run_id_of(out)
    logged = mlflow_client(project).get_run(run_id)
    spec = load_spec(project / "params.yaml", "coupon_618", [decision])
    tags, metrics = logged.data.tags, logged.data.metrics
    snapshots = list((project / "data/snapshots/coupon_618").glob("*.parquet"))
    assert len(snapshots) == 1 and tags["whyflow.data.md5"] == file_md5(snapshots[0])
    assert tags["whyflow.graph.sha256"] == load_graph(spec).sha256
    assert tags["whyflow.git.commit"] == git(project, "rev-parse", "HEAD").strip()
    assert tags["whyflow.git.dirty"] == "false"
    assert tags["whyflow.env.sha256"] == environment_sha256()
    assert tags["whyflow.params.sha256"] == spec.params_sha256()
    assert tags["whyflow.seed"] == "42" and tags["whyflow.analysis"] == "coupon_618"
    assert logged.info.status == "FINISHED"
    assert logged.inputs.dataset_inputs[0].dataset.digest == tags["whyflow.data.md5"][:20]

    truth = json.loads((project / "data/raw/coupon_618.truth.json").read_text())["ate"]
    for name in ("linear_regression", "ps_stratification", "ipw", "linear_dml"):
        assert metrics[f"ate_ci_low.{name}"] <= truth <= metrics[f"ate_ci_high.{name}"], name
        assert f"refute.placebo.{name}" in metrics and f"p_value.{name}" in metrics
    naive = json.loads((project / "results/coupon_618/estimates.json").read_text())["naive"]
    assert not naive["ci_low"] <= truth <= naive["ci_high"]
    assert metrics["overlap.common_support"] > 0.9 and metrics["balance.max_smd_after"] < 0.1

    estimates = json.loads((project / "results/coupon_618/estimates.json").read_text())
    assert estimates["versions"]["data_md5"] == tags["whyflow.data.md5"]
    assert [e["estimator"] for e in estimates["estimates"]] == spec.estimators
    for name in ("quality.json", "overlap.json", "identification.json", "refutation.json", "report.html"):
        assert (project / "results/coupon_618" / name).is_file(), name
    artifacts = {a.path for a in mlflow_client(project).list_artifacts(run_id)}
    assert {"report.html", "estimates.json", "versions", "plots"} <= artifacts
    assert "known truth" in out and "naive difference" in out

    # the headline answer, the decision and the per-row files
    answer = estimates["answer"]
    assert answer["estimator"] == "linear_dml" and answer["estimate"] == metrics["ate.linear_dml"]
    assert out.splitlines()[0].startswith("answer: ATE of coupon_sent on gmv = ")
    decision = json.loads((project / "results/coupon_618/decision.json").read_text())
    assert metrics["decision.value"] == decision["value"]["estimate"] and "decision.roi" in metrics
    policy = pd.read_parquet(project / "results/coupon_618/policy.parquet")
    units = pd.read_parquet(project / "results/coupon_618/unit_effects.parquet")
    assert len(policy) == len(units) == 8000 and list(policy.columns) == ["row", "treat"]
    assert {"row", "cate.linear_regression", "cate.linear_dml"} <= set(units.columns)
    assert abs(policy.treat.mean() - decision["share_treated"]) < 1e-12
    assert f"what to do: {decision['recommendation']}" in " ".join(out.split())
    assert 'id="decision"' in (project / "results/coupon_618/report.html").read_text()


def test_dirty_tree_is_flagged_and_its_diff_logged(project, capsys, prefect_server):
    with open(project / "data/graphs/coupon_618.dot", "a") as graph:
        graph.write("// edited\n")
    (project / "notes.py").write_text("print('untracked')\n")
    code, out, _ = run(project, capsys, "coupon_618", "--set", "refute_simulations=2")
    assert code == 0
    client = mlflow_client(project)
    run_id = run_id_of(out)
    assert client.get_run(run_id).data.tags["whyflow.git.dirty"] == "true"
    diff = Path(client.download_artifacts(run_id, "versions/git.diff")).read_text()
    assert "// edited" in diff and "notes.py" in diff


def test_overlap_gate_failure_exits_3_and_keeps_a_failed_run(project, capsys, prefect_server):
    code, out, err = run(project, capsys, "coupon_618", "--set", "gates.max_smd_after_weighting=0.00001")
    assert code == 3
    assert err.strip().splitlines()[-1].startswith("whyflow: error: overlap gate failed: "
                                                   "gates.max_smd_after_weighting = 1e-05; max |SMD| after weighting is")
    logged = mlflow_client(project).get_run(run_id_of(out))
    assert logged.info.status == "FAILED"
    assert "gates.max_smd_after_weighting = 1e-05" in logged.data.tags["whyflow.failure"]
    assert "overlap.common_support" in logged.data.metrics
    assert not (project / "results" / "coupon_618").exists()


def test_quality_gate_names_the_column(project, capsys, prefect_server):
    frame = pd.read_parquet(project / "data/raw/coupon_618.parquet")
    frame.loc[:99, "user_activity"] = np.nan
    frame.to_parquet(project / "data/raw/holes.parquet")
    code, out, err = run(project, capsys, "coupon_618", "--set", "data.path=data/raw/holes.parquet")
    assert code == 3
    assert "quality gate failed: gates.max_null_fraction = 0.0; column 'user_activity' is 1.2% null" in err
    assert mlflow_client(project).get_run(run_id_of(out)).info.status == "FAILED"


def _write(project: Path, name: str, frame: pd.DataFrame) -> list[str]:
    path = project / "data" / "raw" / name
    frame.to_csv(path, index=False) if name.endswith(".csv") else frame.to_parquet(path)
    return ["--set", f"data.path=data/raw/{name}"]


def _bad_inputs(project: Path) -> dict[str, tuple[list[str], str]]:
    demo = pd.read_parquet(project / "data/raw/coupon_618.parquet")
    graphs = project / "data" / "graphs"
    (graphs / "cycle.dot").write_text("digraph { coupon_sent -> gmv; gmv -> user_activity; user_activity -> coupon_sent; }")
    (graphs / "extra.dot").write_text("digraph { loyalty -> coupon_sent; loyalty -> gmv; coupon_sent -> gmv; }")
    nulls_t = demo.astype({"coupon_sent": float})
    nulls_t.loc[5, "coupon_sent"] = np.nan
    nulls_y = demo.copy()
    nulls_y.loc[[1, 2], "gmv"] = np.nan
    return {
        "missing file": (["--set", "data.path=data/raw/absent.parquet"], "data file 'data/raw/absent.parquet' not found"),
        "missing column": (_write(project, "no_level.parquet", demo.drop(columns="member_level")),
                           "column(s) ['member_level'] not in the data"),
        "non-binary treatment": (_write(project, "dose.parquet", demo.assign(coupon_sent=demo.coupon_sent * 3)),
                                 "must be binary (0/1); found values {0, 3}"),
        "null treatment": (_write(project, "null_t.parquet", nulls_t), "treatment column 'coupon_sent' has 1 null"),
        "null outcome": (_write(project, "null_y.parquet", nulls_y), "outcome column 'gmv' has 2 null"),
        "cyclic graph": (["--set", "graph=data/graphs/cycle.dot"], "has a cycle: "),
        "node not a column": (["--set", "graph=data/graphs/extra.dot", "--set", "effect_modifiers=[]",
                               "--set", "segments=[]"], "node(s) ['loyalty'] are not columns of the data and not marked latent"),
        "unknown estimator": (["--set", "estimators=[linear_regression, magic]"], "unknown estimator 'magic'"),
        "empty table": (_write(project, "empty.csv", demo.iloc[:0]), "has no rows"),
        "constant treatment": (_write(project, "constant.parquet", demo.assign(coupon_sent=1)), "is constant"),
        "hostile sql table": (["--set", 'data={sql: {url: "sqlite:///w.db", table: "users; DROP TABLE users"}}'],
                              "table must be a plain table name"),
        "unidentified effect": (["--set", "graph=data/graphs/coupon_618_latent.dot"],
                                "not identified by back-door adjustment"),
        "unknown key": (["--set", "colour=red"], "unknown key 'colour'"),
    }


def test_bad_input_exits_2_with_one_line_and_leaves_nothing_behind(project, capsys, prefect_server):
    for case, (args, message) in _bad_inputs(project).items():
        code, out, err = run(project, capsys, "coupon_618", *args)
        errors = [line for line in err.splitlines() if line.startswith("whyflow: error:")]
        assert code == 2, (case, err)
        assert len(errors) == 1 and message in errors[0], (case, errors)
        assert "mlflow_run_id" not in out, case
        assert not (project / "results").exists(), case
    if (project / "mlflow.db").exists():
        assert mlflow_client(project).search_runs([e.experiment_id for e in mlflow_client(project).search_experiments()]) == []


def test_console_script_bad_input_is_one_line_without_traceback(project, tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    whyflow = Path(sys.executable).with_name("whyflow")
    done = subprocess.run([str(whyflow), "run", "coupon_618", "--params", str(project / "params.yaml"),
                           "--set", "data.path=data/raw/absent.parquet"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 2
    assert [ln for ln in done.stderr.splitlines() if ln.startswith("whyflow: error:")] == [
        "whyflow: error: analysis 'coupon_618': data file 'data/raw/absent.parquet' not found"]
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_console_script_runs_the_churn_analysis(project, tmp_path):
    """The installed `whyflow` command, in a fresh process with its own Prefect home."""
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "WHYFLOW_WORKERS": "2"}
    whyflow = Path(sys.executable).with_name("whyflow")
    done = subprocess.run([str(whyflow), "run", "churn", "--params", str(project / "params.yaml")],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.fullmatch(r"mlflow_run_id=[0-9a-f]{32}", done.stdout.strip().splitlines()[-1])
    results = json.loads((project / "results/churn/estimates.json").read_text())
    truth = results["truth"]["ate"]
    assert results["naive"]["ate"] > 0 > truth  # coupons go to users at risk: the naive sign is wrong
    for estimate in results["estimates"]:
        assert estimate["ci_low"] <= truth <= estimate["ci_high"], estimate
    assert "Traceback" not in done.stderr
