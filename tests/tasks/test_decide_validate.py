"""CATE validation (BLP, GATES, TOC/RATE) and model selection, against manual references and known truths.

Rates over replications (slow tests below; bench/results/decision-validation.md has 200 each): on the
graded-effect simulation the BLP slope and AUTOC are significant in every replication; on the
constant-effect one each was significant in at most 3 of 20 here (nominal 2.5% one-sided)."""

import itertools

import numpy as np
import pytest
import statsmodels.api as sm

from data.decision_dgps import graded_effect_campaign
from tasks.decide import DRLearnerOnScores, cross_fit_cate, doubly_robust_scores, select_cate_model, validate_cate
from tasks.decide.validate import best_linear_predictor, group_effects, rank_average_treatment_effect


def _sample(slope, seed, rows=2000):
    case = graded_effect_campaign(rows, seed=seed, slope=slope)
    scores = doubly_robust_scores(case.data, seed=seed)
    return case, scores, cross_fit_cate(DRLearnerOnScores, case.data, seed=seed + 1)


@pytest.fixture(scope="module")
def graded():
    return _sample(2.0, 11)


@pytest.fixture(scope="module")
def constant():
    return _sample(0.0, 11)


def test_blp_matches_ols_with_hc1_errors():
    rng = np.random.default_rng(0)
    tau = rng.normal(size=500)
    gamma = 1 + 0.7 * tau + rng.standard_t(4, size=500) * (1 + np.abs(tau))
    blp = best_linear_predictor(gamma, tau)
    ols = sm.OLS(gamma, sm.add_constant(tau - tau.mean())).fit(cov_type="HC1")
    assert blp["ate"].estimate == pytest.approx(ols.params[0]) and blp["ate"].std_error == pytest.approx(ols.bse[0])
    assert blp["heterogeneity"].estimate == pytest.approx(ols.params[1])
    assert blp["heterogeneity"].std_error == pytest.approx(ols.bse[1])


def test_blp_of_a_constant_prediction_has_no_slope():
    blp = best_linear_predictor(np.arange(10.0), np.ones(10))
    assert np.isnan(blp["heterogeneity"].estimate) and blp["ate"].estimate == pytest.approx(4.5)


def _manual_rates(gamma, order):
    g = gamma[order]
    n = g.size
    toc = np.array([g[: j + 1].mean() - gamma.mean() for j in range(n)])
    q = np.arange(1, n + 1) / n
    return toc.mean(), (q * toc).mean()


def test_rate_matches_the_definition_without_ties():
    rng = np.random.default_rng(1)
    gamma, tau = rng.normal(size=40), rng.normal(size=40)
    out = rank_average_treatment_effect(gamma, tau, bootstrap=20)
    autoc, qini = _manual_rates(gamma, np.argsort(-tau))
    assert out["autoc"].estimate == pytest.approx(autoc) and out["qini"].estimate == pytest.approx(qini)


def test_tied_predictions_average_over_every_order_within_ties():
    gamma = np.array([3.0, -1.0, 2.0, 0.5, 4.0, -2.0])
    tau = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 2.0])  # one unit first, a tie of three, a tie of two
    orders = [[5, *a, *b] for a in itertools.permutations([0, 1, 2]) for b in itertools.permutations([3, 4])]
    manual = np.mean([_manual_rates(gamma, np.array(o)) for o in orders], axis=0)
    out = rank_average_treatment_effect(gamma, tau, bootstrap=20)
    assert out["autoc"].estimate == pytest.approx(manual[0]) and out["qini"].estimate == pytest.approx(manual[1])


def test_gates_are_group_means_of_the_scores():
    rng = np.random.default_rng(2)
    gamma, tau = rng.normal(size=100), np.repeat(np.arange(4.0), 25)
    rows = group_effects(gamma, tau, groups=4)
    assert [r["n"] for r in rows] == [25] * 4
    assert [r["estimate"] for r in rows] == pytest.approx([gamma[tau == k].mean() for k in range(4)])


def test_real_heterogeneity_is_detected(graded):
    case, scores, cate = graded
    result = validate_cate(scores, {"dr": cate}, seed=1)["dr"]
    assert result.heterogeneity_detected
    slope = result.blp["heterogeneity"]
    assert slope.ci_low <= 1.0 <= slope.ci_high  # a well-specified learner is calibrated
    gates = [g["estimate"] for g in result.gates]
    assert gates == sorted(gates) and result.gates[-1]["ci_low"] > result.gates[0]["ci_high"]
    assert set(result.to_json()) >= {"blp", "gates", "rate", "toc_curve", "heterogeneity_detected"}


def test_a_constant_effect_shows_no_heterogeneity(constant):
    case, scores, cate = constant
    result = validate_cate(scores, {"dr": cate}, seed=1)["dr"]
    assert not result.heterogeneity_detected
    assert result.blp["heterogeneity"].ci_low < 0 < result.blp["heterogeneity"].ci_high or \
        result.rate["autoc"].ci_low < 0


def test_model_selection_picks_the_truly_better_model(graded):
    case, scores, good = graded
    data_without_x1 = case.data.replace(X=case.data.X[:, 1:], x_names=case.data.x_names[1:])
    blind = cross_fit_cate(DRLearnerOnScores, data_without_x1, seed=3)
    truth_mse = {name: float(((tau - case.tau) ** 2).mean()) for name, tau in (("good", good), ("blind", blind))}
    assert truth_mse["good"] < truth_mse["blind"]
    selection = select_cate_model(scores, {"blind": blind, "good": good})
    assert selection.chosen == "good"
    assert [row["model"] for row in selection.table][0] == "good"
    assert "constant-effect (ATE) baseline" in selection.to_json()["rule"]


def test_model_selection_says_no_model_beats_the_constant_effect(constant):
    case, scores, cate = constant
    selection = select_cate_model(scores, {"dr": cate, "noise": cate + np.random.default_rng(0).normal(size=cate.size)})
    assert selection.chosen is None and selection.reason == "no model beats the constant effect: decide on the ATE"


def test_validation_refuses_predictions_of_the_wrong_length(graded):
    case, scores, cate = graded
    with pytest.raises(ValueError, match=r"`cate_oof\['dr'\]` must hold 2000 finite values; got 10"):
        validate_cate(scores, {"dr": cate[:10]})


def _detections(slope, reps):
    found = []
    for seed in range(reps):
        case, scores, cate = _sample(slope, 100 + seed, rows=1500)
        result = validate_cate(scores, {"dr": cate}, seed=seed, bootstrap=100)["dr"]
        found.append((result.blp["heterogeneity"].ci_low > 0, result.rate["autoc"].ci_low > 0,
                      select_cate_model(scores, {"dr": cate}).chosen is None))
    return np.array(found, dtype=float).mean(axis=0)


@pytest.mark.slow
def test_detection_rates_over_replications():
    blp, autoc, no_model = _detections(2.0, 20)
    assert blp == 1.0 and autoc == 1.0 and no_model == 0.0
    blp, autoc, no_model = _detections(0.0, 20)
    assert blp <= 0.15 and autoc <= 0.15 and no_model >= 0.85
