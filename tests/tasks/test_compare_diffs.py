"""What changed between two runs (tasks/compare/diffs.py), the replay plan (tasks/compare/replay.py) and
the per-estimator assembly and page (tasks/compare/attribution.py, report.py), without running replays."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from tasks.compare import replay
from tasks.compare.attribution import attribute_estimates, by_estimator, choose_estimators, comparison_result
from tasks.compare.diffs import diff_data, diff_graph_versions, diff_params
from tasks.compare.replay import ReplayResult, Versions, plan_replays, replay_spec
from tasks.compare.report import render_comparison, waterfall_png
from tasks.compare.runs import Changes, RunPair
from tasks.record.reproduce import LoggedRun
from whyflow.errors import SpecError

GRAPH = 'digraph { "x" -> "t"; "x" -> "y"; "t" -> "y"; "u" -> "t"; "u" -> "y"; }\n'
SPEC = {"name": "demo", "data": {"path": "d.parquet", "sql": None}, "treatment": "t", "outcome": "y",
        "graph": "g.dot", "confounders": None, "estimators": ["linear_regression"], "refuters": ["placebo"],
        "decision": {"cost": 1.0}, "sensitivity": {"benchmark": "x", "multiples": [1.0]}, "seed": 1}


def test_data_diff_counts_units_and_measures_each_shift():
    rng = np.random.default_rng(0)
    a = pd.DataFrame({"id": np.arange(1000), "x": rng.normal(0, 1, 1000), "level": ["a"] * 600 + ["b"] * 400})
    b = pd.DataFrame({"id": np.arange(100, 1200), "x": rng.normal(0.5, 1, 1100), "level": ["a"] * 550 + ["b"] * 550,
                      "new": 1.0})
    diff = diff_data(a, b, "m1", "m2", unit_id="id")
    assert (diff.units_added, diff.units_removed, diff.rows_a, diff.rows_b) == (200, 100, 1000, 1100)
    assert diff.columns_added == ["new"] and diff.columns_removed == [] and not diff.same
    x = next(s for s in diff.shifts if s.column == "x")
    smd = (b.x.mean() - a.x.mean()) / math.sqrt((a.x.var() + b.x.var()) / 2)
    assert x.smd == pytest.approx(smd, rel=1e-12) and x.ks == pytest.approx(ks_2samp(a.x, b.x).statistic)
    level = next(s for s in diff.shifts if s.column == "level")
    assert level.smd is None and level.ks == pytest.approx(0.1)  # total variation: 0.6 -> 0.5 in level a
    assert "id" not in [s.column for s in diff.shifts]


def test_data_diff_of_one_snapshot_is_empty():
    a = pd.DataFrame({"x": [1.0, 2.0]})
    diff = diff_data(a, a, "m", "m")
    assert diff.same and diff.shifts == [] and diff.units_added is None


def test_params_diff_names_dotted_keys():
    changed = diff_params({**SPEC, "gates": {"min_rows": 50}}, {**SPEC, "seed": 2, "gates": {"min_rows": 80}, "x": 1})
    assert changed == [{"key": "gates.min_rows", "a": 50, "b": 80}, {"key": "seed", "a": 1, "b": 2},
                       {"key": "x", "a": "absent", "b": 1}]


def test_graph_diff_shows_edges_and_the_adjustment_set_it_changes(tmp_path):
    without_u = GRAPH.replace('"u" -> "t"; "u" -> "y"; ', '"u";')
    spec = {**SPEC, "estimators": None}
    found = diff_graph_versions(GRAPH, without_u, spec, spec, tmp_path)
    assert found["removed_edges"] == [["u", "t"], ["u", "y"]] or found["removed_edges"] == [("u", "t"), ("u", "y")]
    assert found["design_a"]["backdoor"] == ["u", "x"] and found["design_b"]["backdoor"] == ["x"]
    assert found["design_changed"] and not found["same"]


def test_replay_spec_swaps_the_graph_and_switches_the_extras_off():
    out = replay_spec(SPEC, "g2.dot", ["ipw"])
    assert out["graph"] == "g2.dot" and "confounders" not in out and "name" not in out
    assert out["refuters"] == [] and "decision" not in out and "benchmark" not in out["sensitivity"]
    assert out["data"] == {"path": "d.parquet"}  # nulls are left out: older code need not know those keys
    assert out["estimators"] == ["ipw"] and SPEC["refuters"] == ["placebo"]  # the logged spec is untouched


def _versions(run: str, md5: str, graph: str, seed: int, commit: str) -> Versions:
    return Versions(run, md5, graph, "sha-" + graph[:5], {**SPEC, "seed": seed}, commit, None)


def test_the_plan_has_one_job_per_distinct_combination():
    a = _versions("A", "m1", GRAPH, 1, "c1")
    b = _versions("B", "m2", GRAPH.replace('"u" -> "y"; ', ""), 2, "c2")
    jobs = plan_replays("demo", a, b, same_code=False)
    assert len(jobs) == 16 and len({j.key for j in jobs.values()}) == 16
    same_code = plan_replays("demo", a, b, same_code=True)
    assert len({j.key for j in same_code.values()}) == 8  # B's code is A's: its 8 combinations are their twins
    assert all(j.commit == "c1" for j in same_code.values())
    same_graph = plan_replays("demo", a, _versions("B", "m2", GRAPH, 2, "c1"), same_code=True)
    assert len({j.key for j in same_graph.values()}) == 4
    assert replay._split(list({j.key: j for j in jobs.values()}.values()), 2)[0][0].commit == "c1"
    assert [len(g) for g in replay._split(list({j.key: j for j in same_code.values()}.values()), 2)] == [4, 4]


def test_paths_that_are_not_code():
    assert not replay._is_code("params.yaml") and not replay._is_code("data/graphs/coupon_618.dot")
    assert not replay._is_code("README.md") and replay._is_code("tasks/estimate/effects.py")
    assert replay._is_code("data/generate.py") and replay._is_code("pyproject.toml")


def _pair(metrics_a: dict, metrics_b: dict) -> RunPair:
    def logged(run, metrics):
        return LoggedRun(run, "demo", {"data_md5": "m", "git_commit": "c", "analysis": "demo"}, metrics, SPEC, [])
    va, vb = _versions("A", "m1", GRAPH, 1, "c1"), _versions("B", "m2", GRAPH + " ", 2, "c2")
    return RunPair(logged("A", metrics_a), logged("B", metrics_b), va, vb)


def test_attribution_per_estimator_from_replays_and_its_page(tmp_path):
    pair = _pair({"ate.ols": 10.0, "ate.ipw": 11.0, "overlap.common_support": 1.0}, {"ate.ols": 14.0, "att.ipw": 12.0})
    jobs = plan_replays("demo", pair.versions_a, pair.versions_b, same_code=False)
    results = {}
    for subset, job in jobs.items():  # data moves ols by 1, graph by 3; ipw moves by its params (estimand) only
        results[job.key] = ReplayResult(job.key, [], "ok", {"ate.ols": 10 + ("data" in subset) + 3 * ("graph" in subset),
                                                               "ate.ipw" if "params" not in subset else "att.ipw":
                                                               11 + ("params" in subset)})
    assert choose_estimators(pair, None) == ["ipw", "ols"]
    with pytest.raises(SpecError, match="did you mean 'ols'"):
        choose_estimators(pair, ["olss"])
    compared = attribute_estimates(pair, jobs, results, ["ipw", "ols"])
    ols = compared["ols"].to_json()
    assert ols["attribution"] == {"data": 1.0, "graph": 3.0, "params": 0.0, "code": 0.0}
    assert ols["reproduced"] == {"a": True, "b": True} and ols["interactions"]["residual"] == 0.0
    assert compared["ipw"].to_json()["attribution"]["params"] == 1.0
    failed = next(j.key for s, j in jobs.items() if s == frozenset({"code"}))
    results[failed] = ReplayResult(failed, ["code"], "failed", error="whyflow: error: unknown key")
    fallback = attribute_estimates(pair, jobs, results, ["ols"])["ols"].to_json()
    assert fallback["method"] == "sequential" and fallback["missing"] == ["code"]
    assert sum(fallback["attribution"].values()) == 4.0

    changes = Changes(data=diff_data(pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": [1.0, 3.0]}), "m1", "m2").to_json(),
                      graph=diff_graph_versions(GRAPH, GRAPH, SPEC, SPEC, tmp_path), params=[],
                      code={"commit_a": "c1", "commit_b": "c2", "dirty_a": False, "dirty_b": False, "commits": ["c2 x"],
                            "commits_back": [], "files": ["M a.py"], "stat": "1 file changed", "error": None},
                      environment=[], same_code=False, code_files=["a.py"])
    result = comparison_result(pair, changes, compared, results, 1.0)
    assert result["runs"] == ["A", "B"] and set(result["estimates"]) == {"ipw", "ols"}
    assert waterfall_png(result["estimates"]).startswith(b"\x89PNG")
    page = render_comparison(result, tmp_path / "compare.html").read_text()
    assert "data:image/png;base64," in page and "Attribution" in page and "unknown key" in page


def test_by_estimator_reads_every_estimand():
    assert by_estimator({"ate.a": 1.0, "att.b": 2.0, "ate_ci_low.a": 0.0, "refute.placebo.a": 0.5}) == {"a": 1.0, "b": 2.0}
