"""The markdown summary published as a Prefect artifact, built from a real run's results."""

from __future__ import annotations

import copy

from tasks.report.summary import (failure_summary_markdown, mlflow_artifact_url, mlflow_run_url, mlflow_ui_url,
                           reproduce_summary_markdown, run_summary_markdown)

RESULTS = {
    "analysis": "coupon_618",
    "spec": {"treatment": "coupon_sent", "outcome": "gmv", "estimand": "ate",
             "gates": {"min_common_support": 0.9, "max_smd_after_weighting": 0.1}},
    "versions": {"analysis": "coupon_618", "data_md5": "8bcc98c5f10fc7611ac3b7bf6f8a3060", "git_dirty": False, "seed": 42},
    "estimates": [
        {"estimator": "ipw", "estimand": "ate", "ate": 49.4357, "ci_low": 38.62, "ci_high": 60.25, "p_value": 3.2e-19,
         "status": "ok", "error": None},
        {"estimator": "causal_forest", "estimand": "ate", "ate": None, "ci_low": None, "ci_high": None, "p_value": None,
         "status": "failed", "error": "MemoryError: out of memory"},
    ],
    "naive": {"ate": 223.8, "ci_low": 212.2, "ci_high": 235.5, "p_value": 0.0},
    "truth": {"ate": 49.79},
    "quality": {"success": True, "failed": [], "evaluated": 15},
    "overlap": {"common_support": 0.99125, "max_smd_after": 0.0252},
    "refutations": [{"refuter": "placebo", "estimator": "ipw", "new_effect": 0.75, "p_value": 1e-59, "passed": True,
                     "status": "ok"},
                    {"refuter": "data_subset", "estimator": "ipw", "new_effect": 30.1, "p_value": 0.01, "passed": False,
                     "status": "ok"}],
    "survivors": [],
}


def test_summary_has_estimates_with_cis_gates_refutations_versions_and_links():
    text = run_summary_markdown(RESULTS, "abc123", "http://mlflow:5000/#/experiments/1/runs/abc123",
                                "http://mlflow:5000/get-artifact?path=report.html&run_uuid=abc123", "/p/results/coupon_618/report.html")
    assert text.startswith("# coupon_618: effect of coupon_sent on gmv")
    assert "| ipw | ATE | 49.44 | [38.62, 60.25] | 3.2e-19 | ok |" in text
    assert "| causal_forest | ATE | – |  | – | failed: MemoryError: out of memory |" in text
    assert "| known truth | ATE | 49.79 |" in text
    assert "| common support | >= 0.9 | 0.9912 | pass |" in text
    assert "| max SMD after weighting | <= 0.1 | 0.0252 | pass |" in text
    assert "| data_subset | ipw | 30.1 | 0.01 | refuted |" in text
    assert "| data_md5 | 8bcc98c5f10fc7611ac3b7bf6f8a3060 |" in text and "| git_dirty | no |" in text
    assert "[abc123](http://mlflow:5000/#/experiments/1/runs/abc123)" in text
    assert "[report.html](http://mlflow:5000/get-artifact?path=report.html&run_uuid=abc123)" in text


def test_a_gate_beyond_its_threshold_reads_fail():
    results = copy.deepcopy(RESULTS)
    results["overlap"]["common_support"] = 0.71
    assert "| common support | >= 0.9 | 0.71 | FAIL |" in run_summary_markdown(results, "r")


def test_pipes_in_error_messages_do_not_break_the_table():
    results = copy.deepcopy(RESULTS)
    results["estimates"][1]["error"] = "ValueError: a|b"
    assert "failed: ValueError: a\\|b |" in run_summary_markdown(results, "r")


def test_mlflow_links_use_the_server_when_tracking_is_remote_else_the_local_ui():
    assert mlflow_ui_url("http://tracking:5000/", {}) == "http://tracking:5000"
    assert mlflow_ui_url("sqlite:///p/mlflow.db", {}) == "http://127.0.0.1:5000"
    assert mlflow_ui_url("sqlite:///p/mlflow.db", {"WHYFLOW_MLFLOW_UI": "http://box:8080/"}) == "http://box:8080"
    assert mlflow_run_url("http://h:5000", "3", "r1") == "http://h:5000/#/experiments/3/runs/r1"
    assert mlflow_artifact_url("http://h:5000", "r1", "plots/forest.png") == \
        "http://h:5000/get-artifact?path=plots/forest.png&run_uuid=r1"


def test_failure_and_reproduction_summaries_name_the_outcome():
    text = failure_summary_markdown("coupon_618", "overlap gate failed: common support 0.71 < 0.9", "r9", "http://u")
    assert "**overlap gate failed: common support 0.71 < 0.9**" in text and "[r9](http://u)" in text
    same = reproduce_summary_markdown({"original": "a", "run_id": "b", "compared_metrics": 40, "differences": [],
                                       "environment_changes": [], "environment_matches": True})
    assert "reproduced exactly" in same and "Compared metrics (timings aside): 40" in same
    differs = reproduce_summary_markdown({"original": "a", "run_id": "b", "compared_metrics": 40,
                                          "differences": [{"key": "ate.ipw", "original": "1.0", "reproduced": "1.5"}],
                                          "environment_changes": ["numpy 2.4.6 -> 2.4.7"]})
    assert "1 difference(s)" in differs and "| ate.ipw | 1.0 | 1.5 |" in differs and "numpy 2.4.6 -> 2.4.7" in differs
