"""Agreement across estimators: pairwise difference over pooled SE, flagged beyond 3."""

import math

import pytest

from estimators.base import Estimate
from tasks.estimate.agreement import estimator_agreement
from tasks.record.metrics import metrics_of


def est(name, value, se, estimand="ate", status="ok"):
    return Estimate(name, estimand, value=value, std_error=se, status=status,
                    error=None if status == "ok" else "boom")


def test_pairwise_z_is_the_difference_over_the_pooled_error_and_flags_beyond_three():
    out = estimator_agreement([est("a", 10.0, 1.0), est("b", 12.0, 2.0), est("c", 30.0, 3.0)])
    pairs = {(p["a"], p["b"]): p for p in out["pairs"]}
    assert math.isclose(pairs[("a", "b")]["z"], -2.0 / math.sqrt(5.0))
    assert math.isclose(pairs[("a", "b")]["pooled_se"], math.sqrt(5.0))
    assert not pairs[("a", "b")]["disagree"]
    assert pairs[("a", "c")]["disagree"] and math.isclose(pairs[("a", "c")]["z"], -20.0 / math.sqrt(10.0))
    assert out["disagreeing"] == [["a", "c"], ["b", "c"]]
    assert math.isclose(out["max_z"], 20.0 / math.sqrt(10.0))


def test_failed_estimates_and_other_estimands_are_not_compared():
    out = estimator_agreement([est("a", 1.0, 0.1), est("iv", 5.0, 0.1, estimand="late"),
                               est("broken", math.nan, math.nan, status="failed"), est("nose", 1.0, math.nan)])
    assert out["pairs"] == [] and out["max_z"] is None
    assert out["not_compared"] == {"broken": "boom", "nose": "no finite standard error"}


def test_agreement_is_logged_as_the_max_z_metric():
    agreement = estimator_agreement([est("a", 10.0, 1.0), est("b", 14.0, 1.0)])
    metrics = metrics_of({"agreement": agreement})
    assert math.isclose(metrics["agreement.max_z"], 4.0 / math.sqrt(2.0))
    assert metrics["agreement.disagreeing_pairs"] == 0.0
    assert "agreement.max_z" not in metrics_of({"agreement": estimator_agreement([est("a", 1.0, 1.0)])})


def test_a_bad_threshold_is_refused():
    with pytest.raises(ValueError, match="`threshold` must be a positive number; got 0"):
        estimator_agreement([], threshold=0)
