from dataclasses import replace

import numpy as np
import pytest
from pydantic import Field

from estimators import get
from estimators.options import EstimatorOptions
from estimators.registry import _REGISTRY
from tasks.evidence.refute import refute_estimates, survivors, ucc_grid
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


# --- every refuter's pass/fail rule on a case where it must pass and one where it must fail ---

class Rigged(get("linear_regression")):
    """OLS, bent by `rule` so that one refuter must fail: each rule breaks exactly the property
    that refuter checks, which no real estimator should break."""

    name = "rigged"

    class Options(EstimatorOptions):
        rule: str | None = Field(None, description="which property to break")

    def _fit(self, data):
        out = super()._fit(data)
        rule = self.options.rule
        if rule == "ignores_treatment":  # placebo: the 'effect' does not depend on T at all
            out = replace(out, value=float(data.Y.mean()))
        elif rule == "counts_covariates":  # random_common_cause: moves when a covariate is added
            out = replace(out, value=out.value + 0.5 * data.covariates.shape[1])
        elif rule == "grows_with_n":  # data_subset: moves with the sample size
            out = replace(out, value=data.n / 1000)
        elif rule == "distinct_rows":  # bootstrap: resamples repeat rows, so this drops to ~0.63
            out = replace(out, value=len(np.unique(data.Y)) / data.n)
        elif rule == "offset":  # dummy_outcome: a biased estimator finds an effect where there is none
            out = replace(out, value=out.value + 1.0)
        return out


def _one(refuter, data, rule=None, simulations=8, name="linear_regression", monkeypatch=None):
    if rule:
        monkeypatch.setitem(_REGISTRY, "rigged", Rigged)
        name = "rigged"
    estimate = get(name)(rule=rule).fit(data).estimate_ if rule else get(name)().fit(data).estimate_
    [result] = refute_estimates(data, [estimate], [refuter], seed=5, simulations=simulations,
                                options={"rigged": {"rule": rule}} if rule else None)
    assert result.status == "ok", result.error
    return result


@pytest.mark.parametrize("refuter, rule", [
    ("placebo", "ignores_treatment"), ("random_common_cause", "counts_covariates"), ("data_subset", "grows_with_n"),
    ("bootstrap", "distinct_rows"), ("dummy_outcome", "offset"),
])
def test_each_refuter_passes_a_sound_estimate_and_fails_a_rigged_one(refuter, rule, monkeypatch):
    data, _ = linear_data(n=2000)
    sound = _one(refuter, data)
    assert sound.passed, sound
    rigged = _one(refuter, data, rule, monkeypatch=monkeypatch)
    assert rigged.passed is False, rigged
    assert rigged.criterion and (rigged.p_value is not None)
    assert rigged.interval_low <= rigged.new_effect <= rigged.interval_high


def test_bootstrap_interval_matches_the_estimate_standard_error():
    data, _ = linear_data(n=2000)
    estimate = get("linear_regression")().fit(data).estimate_
    [boot] = refute_estimates(data, [estimate], ["bootstrap"], seed=11, simulations=40)
    # 40 resamples: their SD estimates the SE within about +-25% (chi-square, 39 dof, 2.5 sigma)
    assert 0.75 < boot.new_effect_sd / estimate.std_error < 1.3
    assert boot.passed and boot.interval_low < estimate.value < boot.interval_high


def test_dummy_outcome_is_centred_at_zero_for_a_sound_estimator():
    data, _ = linear_data(n=2000)
    result = _one("dummy_outcome", data, simulations=10)
    assert abs(result.new_effect) < 4 * result.new_effect_sd / np.sqrt(10)
    assert result.original == pytest.approx(2.0, abs=0.15)


def test_unobserved_common_cause_moves_ols_as_the_bias_formula_says_and_passes_a_strong_effect():
    data, _ = linear_data(n=3000, effect=2.0)
    estimate = get("linear_regression")().fit(data).estimate_
    [result] = refute_estimates(data, [estimate], ["unobserved_common_cause"], seed=2, simulations=3)
    assert result.simulations == len(ucc_grid()) == 9 and result.p_value is None
    # strongest cell, corr(U, T) = 0.2 and 0.2 SD(Y) per SD(U), pushed towards zero: OLS loses about
    # 0.2 SD(Y) 0.2 / SD(T); the adjustment set removes part of U's tie to T, so allow a wide margin
    worst = estimate.value - 0.2 * data.Y.std() * 0.2 / data.T.std()
    assert result.interval_low == pytest.approx(worst, abs=0.35 * (estimate.value - worst))
    assert result.interval_high < estimate.value + 0.2 and result.passed


def test_unobserved_common_cause_fails_an_effect_a_weak_confounder_erases():
    data, _ = linear_data(n=3000, effect=0.1)
    result = _one("unobserved_common_cause", data)
    assert result.interval_low < 0 < result.original and result.passed is False


def test_an_unknown_refuter_is_a_one_line_spec_error_listing_the_six():
    from types import SimpleNamespace

    from tasks.evidence.refute import check_refuters
    from whyflow.errors import SpecError

    with pytest.raises(SpecError) as caught:
        check_refuters(SimpleNamespace(name="a", refuters=["placebo", "bootstraps"]))
    assert str(caught.value) == ("analysis 'a': unknown refuter 'bootstraps' in 'refuters'; expected one of "
                                 "['bootstrap', 'data_subset', 'dummy_outcome', 'placebo', 'random_common_cause', "
                                 "'unobserved_common_cause']")
