import numpy as np
import pytest

from estimators import get
from estimators.registry import _REGISTRY
from tasks.refute import refute_estimates, survivors
from tests.estimators.test_estimators import linear_data


def test_refuters_on_a_real_effect():
    data, _ = linear_data(n=3000)
    estimate = get("linear_regression")().fit(data).estimate_
    results = {r.refuter: r for r in refute_estimates(data, [estimate], ["placebo", "random_common_cause",
                                                                           "data_subset"], seed=1, simulations=8)}
    placebo = results["placebo"]
    assert abs(placebo.new_effect) < 3 * placebo.new_effect_sd / np.sqrt(8) + 1e-9
    assert placebo.passed and placebo.p_value < 0.05
    assert results["random_common_cause"].passed and abs(results["random_common_cause"].new_effect - 2.0) < 0.2
    assert results["data_subset"].passed
    assert survivors([estimate], list(results.values())) == ["linear_regression"]


def test_a_refuter_that_cannot_run_is_recorded_not_dropped(monkeypatch):
    class FailsOnPlacebo(get("linear_regression")):
        name = "fragile"

        def _fit(self, data):
            if data.T.sum() != self.options.get("expected", data.T.sum()):
                raise ValueError("placebo data")
            return super()._fit(data)

    monkeypatch.setitem(_REGISTRY, "fragile", FailsOnPlacebo)
    data, _ = linear_data(n=500)
    estimate = FailsOnPlacebo().fit(data).estimate_

    class Always(FailsOnPlacebo):
        def _fit(self, data):
            raise ValueError("cannot refit")

    monkeypatch.setitem(_REGISTRY, "fragile", Always)
    [result] = refute_estimates(data, [estimate], ["placebo"], seed=1, simulations=3)
    assert result.status == "failed" and "ValueError: cannot refit" in result.error and result.passed is None
    assert survivors([estimate], [result]) == []


@pytest.mark.slow
def test_results_do_not_depend_on_worker_count():
    data, _ = linear_data(n=2000)
    estimates = [get(n)(seed=3).fit(data).estimate_ for n in ("linear_regression", "ipw")]
    one = refute_estimates(data, estimates, ["placebo", "data_subset"], seed=9, simulations=5, workers=1)
    two = refute_estimates(data, estimates, ["placebo", "data_subset"], seed=9, simulations=5, workers=2)
    assert [r.to_json() for r in one] == [r.to_json() for r in two]
