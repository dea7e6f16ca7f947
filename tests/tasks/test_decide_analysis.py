"""analyse_decision: the decision step in one call, as the flow will make it."""

import json

import numpy as np
import pytest

from data.decision_dgps import FEATURES, graded_effect_campaign
from tasks.decide import DRLearnerOnScores, analyse_decision


class NoEffect:
    """A CATE model that cannot predict new rows, as the registry's default effect() says."""

    def __init__(self, *, seed=0):
        pass

    def fit(self, data):
        return self

    def effect(self, X):
        raise NotImplementedError("NoEffect does not predict effects on new rows")


@pytest.fixture(scope="module")
def case():
    return graded_effect_campaign(2500, seed=41)


def test_the_whole_step_runs_and_records_estimators_it_cannot_use(case, tmp_path):
    analysis = analyse_decision(case.data, estimators=[DRLearnerOnScores, "linear_regression", NoEffect], cost=1.5,
                                frame=case.frame, features=FEATURES, bootstrap=50, seed=7)
    assert list(analysis.cate_oof) == ["DRLearnerOnScores", "linear_regression"]
    assert analysis.failed == {"NoEffect": "NoEffect does not predict effects on new rows"}
    assert analysis.selection.chosen in ("DRLearnerOnScores", "linear_regression")
    out = json.loads(json.dumps(analysis.to_json()))
    assert {"value", "baselines", "share_treated", "roi", "policy", "cate_validation", "model_selection"} <= set(out)
    assert out["cate_validation"]["DRLearnerOnScores"]["heterogeneity_detected"]
    assert analysis.report.value.ci_low > 0 and set(analysis.metrics()) >= {"decision.value", "decision.roi"}
    names = sorted(p.name for p in analysis.write_plots(tmp_path, outcome="y"))
    assert names == ["decision_gates_DRLearnerOnScores.png", "decision_gates_linear_regression.png",
                     "decision_targeting_DRLearnerOnScores.png", "decision_targeting_linear_regression.png",
                     "decision_who_responds.png"]


def test_with_no_cate_model_the_decision_rests_on_the_tree_and_baselines(case):
    analysis = analyse_decision(case.data, cost=1.5, seed=7)
    assert analysis.selection is None and analysis.validation == {}
    assert analysis.report.policy["kind"] in ("policy tree", "treat no one")


def test_bad_decision_inputs_fail_before_any_fitting(case):
    with pytest.raises(ValueError, match="`budget_share` must be in \\(0, 1\\]; got -0.5"):
        analyse_decision(case.data, estimators=["causal_forest"], cost=1.5, budget_share=-0.5)
    with pytest.raises(ValueError, match="`frame` must hold the 2500 analysed rows; got 10"):
        analyse_decision(case.data, cost=1.5, frame=case.frame.head(10))
    assert np.isfinite(case.tau).all()
