"""Cross-fitted DR scores (tasks/decide/scores.py) and out-of-fold CATE (tasks/decide/oof.py)."""

import numpy as np
import pytest

from data.decision_dgps import FEATURES, graded_effect_campaign
from estimators.base import CausalData, NotApplicable
from tasks.decide import DRLearnerOnScores, DRScores, cross_fit_cate, doubly_robust_scores
from tasks.decide.scores import fold_ids, nuisance_covariates


@pytest.fixture(scope="module")
def case():
    return graded_effect_campaign(2000, seed=3)


def test_scores_follow_the_aipw_formula_from_the_nuisances(case):
    scores = doubly_robust_scores(case.data, seed=1)
    y, t, mu0, mu1, e = scores.y, scores.t, scores.mu0, scores.mu1, scores.propensity
    manual = mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)
    np.testing.assert_allclose(scores.gamma, manual, rtol=1e-10)
    assert scores.ate == pytest.approx(manual.mean())
    assert ((e >= 0.01) & (e <= 0.99)).all() and scores.folds == 5 and scores.to_json()["clip"] == 0.01


def test_scores_recover_the_ate_and_are_deterministic(case):
    a, b = doubly_robust_scores(case.data, seed=5), doubly_robust_scores(case.data, seed=5)
    np.testing.assert_array_equal(a.gamma, b.gamma)
    assert abs(a.ate - case.tau.mean()) < 3 * a.ate_std_error + 0.02


def test_propensities_outside_the_clip_are_counted():
    y, t = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 1.0, 0.0, 1.0])
    scores = DRScores.from_arrays(y, t, np.zeros(4), np.ones(4), [0.001, 0.5, 0.5, 0.999], clip=0.01)
    assert scores.clipped_units == 2 and scores.propensity.min() == 0.01 and scores.propensity.max() == 0.99


def test_nuisances_see_every_covariate_and_modifier_once(case):
    only_modifiers = CausalData.from_frame(case.frame, treatment="t", outcome="y", adjustment=["x2", "x3"],
                                           modifiers=["x1", "x3"])
    full = nuisance_covariates(only_modifiers)
    assert full.covariates.shape[1] == 3 and full.W.shape[1] == 3


def test_scores_refuse_a_non_binary_treatment(case):
    frame = case.frame.assign(t=case.frame["t"] * 2)
    data = CausalData.from_frame(frame, treatment="t", outcome="y", adjustment=FEATURES)
    with pytest.raises(ValueError, match=r"`treatment` must be binary \(0/1\).*got values \[0.0, 2.0\]"):
        doubly_robust_scores(data)


def test_scores_refuse_an_unknown_nuisance(case):
    with pytest.raises(ValueError, match="`nuisance` must be one of linear, lightgbm or an .* pair; got 'forest'"):
        doubly_robust_scores(case.data, nuisance="forest")
    with pytest.raises(ValueError, match=r"`nuisance` must pair an outcome model .*; got \('linear', 'probit'\)"):
        doubly_robust_scores(case.data, nuisance=("linear", "probit"))


def test_lightgbm_nuisances_run(case):
    scores = doubly_robust_scores(case.data, seed=1, nuisance="lightgbm")
    assert scores.nuisance == {"outcome": "lightgbm", "propensity": "lightgbm"} and np.isfinite(scores.gamma).all()
    mixed = doubly_robust_scores(case.data, seed=1, nuisance=("linear", "lightgbm"))
    assert mixed.nuisance == {"outcome": "linear", "propensity": "lightgbm"}


class RowMemory:
    """A CATE model that remembers its training outcomes: effect(X) says whether it saw each row."""

    def __init__(self, *, seed=0):
        self.seed = seed

    def fit(self, data):
        self.seen_ = {tuple(row) for row in data.X.round(12)}
        return self

    def effect(self, X):
        return np.array([1.0 if tuple(row) in self.seen_ else 0.0 for row in X.round(12)])


def test_every_prediction_comes_from_a_model_that_did_not_see_the_row(case):
    assert not cross_fit_cate(RowMemory, case.data, folds=4, seed=2).any()


def test_out_of_fold_cate_of_a_small_dr_learner_tracks_the_truth(case):
    cate = cross_fit_cate(DRLearnerOnScores, case.data, seed=2)
    assert np.corrcoef(cate, case.tau)[0, 1] > 0.95
    np.testing.assert_array_equal(cate, cross_fit_cate(DRLearnerOnScores, case.data, seed=2))


def test_fold_labels_are_balanced():
    labels = fold_ids(103, 5, seed=1)
    assert np.bincount(labels).max() - np.bincount(labels).min() <= 1


def test_an_unknown_registry_name_is_refused(case):
    with pytest.raises(ValueError, match="`estimator` must be a registered estimator; got 'no_such'"):
        cross_fit_cate("no_such", case.data)


def test_a_model_without_effect_is_not_applicable(case):
    class NoEffect:
        def __init__(self, *, seed=0):
            pass

    with pytest.raises(NotApplicable, match="has no effect|does not predict"):
        cross_fit_cate(NoEffect, case.data)


def _registry_cate_estimators():
    from estimators import registry

    # the networks cross-fit minutes each; they have their own tests (tests/estimators/test_deep*.py)
    return [row["name"] for row in registry.describe()
            if row["cate"] and not row["streams"] and not row["family"].startswith("deep")]


@pytest.mark.slow
@pytest.mark.parametrize("name", _registry_cate_estimators())
def test_registry_cate_estimators_cross_fit_end_to_end(name, case):
    """Every registry CATE estimator with effect(X) cross-fits; one without it says so (skipped)."""
    # fewer modifiers than covariates: each estimator must be handed the matrix its effect() takes
    data = CausalData.from_frame(case.frame, treatment="t", outcome="y", adjustment=FEATURES, modifiers=["x1", "x2"])
    try:
        cate = cross_fit_cate(name, data, folds=3, seed=1)
    except NotApplicable as exc:
        pytest.skip(str(exc))
    assert cate.shape == (case.data.n,) and np.isfinite(cate).all()
    if np.unique(cate.round(8)).size <= 3:  # one constant per fold: a linear S-learner has no interaction
        assert abs(cate.mean() - case.tau.mean()) < 0.5
    else:
        assert np.corrcoef(cate, case.tau)[0, 1] > 0.5
