"""The targeting policy (tasks/decide/policy.py): bad inputs, the recommended rule, budgets, the outputs."""

import json

import numpy as np
import pandas as pd
import pytest

from data.decision_dgps import FEATURES, graded_effect_campaign, oracle_value, true_effect
from tasks.decide import METRIC_KEYS, DRLearnerOnScores, cross_fit_cate, decide, doubly_robust_scores, validate_cate
from tasks.decide.plots import gates_plot, targeting_curves_plot, who_responds_plot


@pytest.fixture(scope="module")
def graded():
    case = graded_effect_campaign(3000, seed=21)
    scores = doubly_robust_scores(case.data, seed=21)
    return case, scores, {"dr": cross_fit_cate(DRLearnerOnScores, case.data, seed=22)}


@pytest.fixture(scope="module")
def report(graded):
    case, scores, oof = graded
    return decide(case.frame, cate_oof=oof, scores=scores, cost=1.5, features=FEATURES, seed=3)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"cost": -1.0}, r"`cost` must be a finite number >= 0; got -1"),
    ({"cost": np.array([1.0, 2.0])}, r"`cost` must be one number or one per row \(3000\); got shape \(2,\)"),
    ({"budget_share": 0.0}, r"`budget_share` must be in \(0, 1\]; got 0.0"),
    ({"budget_share": 1.5}, r"`budget_share` must be in \(0, 1\]; got 1.5"),
    ({"features": ["x1", "income"]}, r"`features` must name columns of the data; got unknown feature 'income'"),
    ({"value_per_outcome": 0.0}, r"`value_per_outcome` must be a finite number > 0; got 0.0"),
    ({"max_depth": 5}, r"`max_depth` must be 1, 2 or 3; got 5"),
    ({"folds": 1}, r"`folds` must be an integer in \[2, 20\]; got 1"),
])
def test_each_bad_input_is_one_line_naming_it(graded, kwargs, message):
    case, scores, oof = graded
    arguments = {"scores": scores, "cost": 1.5, "features": FEATURES, **kwargs}
    with pytest.raises(ValueError, match=message) as info:
        decide(case.frame, **arguments)
    assert "\n" not in str(info.value)


def test_an_unknown_feature_of_a_causal_data_is_named(graded):
    case, scores, _ = graded
    with pytest.raises(ValueError, match=r"`features` must name effect modifiers or covariates.*got 'income'"):
        decide(case.data, scores=scores, cost=1.5, features=["income"])


def test_a_frame_needs_scores(graded):
    case, _, _ = graded
    with pytest.raises(ValueError, match="`scores` must be given when deciding from a frame; got None"):
        decide(case.frame, cost=1.5, features=FEATURES)


def test_the_recommended_rule_targets_the_responders_and_beats_both_baselines(graded, report):
    case, _, _ = graded
    assert report.value.ci_low > 0 > report.baselines["treat_all"].ci_high
    assert report.vs_treat_all.ci_low > 0
    true_gain = float(((case.tau - 1.5) * report.treat).mean())
    assert true_gain >= 0.85 * float(np.maximum(case.tau - 1.5, 0).mean())
    assert report.value.ci_low <= true_gain <= report.value.ci_high
    assert report.treat[case.frame["x1"] > 1].mean() > 0.95 and report.treat[case.frame["x1"] < -0.5].mean() < 0.05
    assert report.roi > 1 and 0.25 < report.share_treated < 0.55


def test_the_policy_tree_says_its_rule_in_words_and_generalises(graded):
    case, scores, _ = graded
    report = decide(case.frame, scores=scores, cost=1.5, features=FEATURES, seed=3)
    assert report.policy["kind"] == "policy tree"
    assert report.policy["rule"].startswith("treat units with x1 > ")
    threshold = float(report.policy["rule"].split("x1 > ")[1].split()[0])
    assert abs(threshold - 0.25) < 0.3
    population = pd.DataFrame(np.random.default_rng(9).normal(size=(50_000, 5)), columns=FEATURES)
    treat = report.final_rule.decide(population[FEATURES].to_numpy())
    gain = float(((true_effect(population, 2.0) - 1.5) * treat).mean())
    assert gain >= 0.85 * oracle_value(slope=2.0, cost=1.5, rows=50_000)


def test_json_shape_metrics_and_policy_rows(report):
    out = json.loads(json.dumps(report.to_json()))
    assert set(out["value"]) >= {"estimate", "ci_low", "ci_high"}
    assert set(out["baselines"]) == {"treat_all", "treat_none"}
    assert out["baselines"]["treat_none"]["estimate"] == 0.0
    assert {"share_treated", "roi", "policy", "incremental_outcome", "total_cost", "recommendation"} <= set(out)
    assert out["policy"]["rule"] and len(out["policy"]["chosen_by_fold"]) == 5
    assert out["who_responds"]["leaves"][0]["ci_low"] is not None
    assert tuple(report.metrics()) == METRIC_KEYS
    assert report.metrics()["decision.value"] == out["value"]["estimate"]
    frame = report.policy_frame()
    assert list(frame.columns) == ["row", "treat"] and frame["row"].dtype == np.int64 and frame["treat"].dtype == bool
    assert frame["treat"].mean() == pytest.approx(out["share_treated"])
    total = out["incremental_outcome"]["total"]
    assert out["roi"] == pytest.approx(total / out["total_cost"])
    assert out["value"]["estimate"] == pytest.approx((total - out["total_cost"]) / out["n"])


def test_a_budget_caps_the_share_treated(graded):
    case, scores, oof = graded
    report = decide(case.frame, cate_oof=oof, scores=scores, cost=1.5, budget_share=0.2, features=FEATURES, seed=3)
    assert report.share_treated <= 0.21
    assert report.treat[case.frame["x1"] > 1.2].mean() > 0.8  # the strongest responders first
    assert all(row["within_budget"] or row["share_treated"] > 0.21 for row in report.candidates)


def test_value_per_outcome_converts_the_outcome_into_money(graded):
    case, scores, oof = graded
    money = decide(case.frame, cate_oof=oof, scores=scores, cost=3.0, value_per_outcome=2.0, features=FEATURES, seed=3)
    units = decide(case.frame, cate_oof=oof, scores=scores, cost=1.5, features=FEATURES, seed=3)
    np.testing.assert_array_equal(money.treat, units.treat)
    assert money.value.estimate == pytest.approx(2 * units.value.estimate)
    assert money.roi == pytest.approx(units.roi)


def test_a_cost_per_row_is_accepted(graded):
    case, scores, oof = graded
    costs = np.where(case.frame["x2"] > 0, 1.0, 2.0)
    report = decide(case.frame, cate_oof=oof, scores=scores, cost=costs, features=FEATURES, seed=3)
    assert report.total_cost == pytest.approx(float((costs * report.treat).sum()))


def test_extreme_costs_treat_everyone_or_no_one():
    case = graded_effect_campaign(2000, seed=4, slope=0.0)  # effect 1 for everyone
    scores = doubly_robust_scores(case.data, seed=4)
    cheap = decide(case.data, scores=scores, cost=0.2, seed=1)
    dear = decide(case.data, scores=scores, cost=3.0, seed=1)
    assert cheap.policy["rule"] == "treat everyone" and cheap.share_treated == 1.0
    assert dear.policy["rule"] == "treat no one" and dear.share_treated == 0.0 and dear.roi is None
    assert dear.value.estimate == 0.0 and np.isnan(dear.metrics()["decision.roi"])


def test_scores_are_computed_from_a_causal_data_when_not_given(graded):
    case, _, _ = graded
    report = decide(case.data, cost=1.5, seed=3)
    assert report.policy["features"] == FEATURES and report.scores["folds"] == 5


def test_plots_are_written(graded, report, tmp_path):
    case, scores, oof = graded
    validation = validate_cate(scores, oof, seed=1)["dr"]
    paths = [gates_plot(validation.gates, tmp_path / "gates.png", ate=scores.ate),
             targeting_curves_plot(validation.rate["curve"], tmp_path / "toc.png"),
             who_responds_plot(report.effect_tree, tmp_path / "who.png", cost=1.5)]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_recommendation_reads_in_the_campaigns_words(report):
    words = report.describe(action="send the coupon to", units="users", outcome="GMV")
    assert words.startswith("send the coupon to users ") and " GMV per user [" in words and ", ROI " in words
    assert report.recommendation.startswith("treat units ")
