"""Refuters: each one's rule on a sound estimate (pass) and on one rigged to break what it checks (fail),
verdicts about changes that matter (issue 21 item 5), honest labels and the evidence summary."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from pydantic import Field

from data.dgps import causal_data, instrument_unobserved_confounder
from estimators import get
from estimators.options import EstimatorOptions
from estimators.registry import _REGISTRY
from tasks.evidence.evidence_summary import NO_BIAS_CHECK, evidence_lines, summarize_evidence
from tasks.evidence.hidden_confounder import MULTIPLES
from tasks.evidence.refute import REFUTERS, check_refuters, refute_estimates, survivors
from tests.estimators.test_estimators import linear_data
from whyflow.errors import SpecError

SANITY = ["placebo", "random_common_cause", "data_subset", "bootstrap"]


def test_refuters_on_a_real_effect_pass_and_say_what_they_are():
    data, _ = linear_data(n=3000)
    estimate = get("linear_regression")().fit(data).estimate_
    results = {r.refuter: r for r in refute_estimates(data, [estimate], SANITY[:3], seed=1, simulations=8)}
    placebo = results["placebo"]
    # the placebo estimates are centred at 0, and that is now a pass (a correct null can pass too)
    assert abs(placebo.new_effect) < 3 * placebo.new_effect_sd / np.sqrt(8)
    assert placebo.verdict == "pass" and placebo.passed is True and placebo.p_value > 0.05
    assert results["random_common_cause"].passed and abs(results["random_common_cause"].new_effect - 2.0) < 0.2
    assert results["data_subset"].passed
    for r in results.values():
        assert r.category == "sanity" and r.detects and "0.5 x the estimate's own SE" in r.criterion
        assert set(r.to_json()) >= {"refuter", "estimator", "original", "new_effect", "new_effect_sd", "p_value",
                                    "passed", "simulations", "status", "error", "interval_low", "interval_high",
                                    "criterion", "category", "verdict", "detects", "details"}
    # sanity checks alone are no evidence about bias: no survivor, and the line says so
    assert survivors([estimate], list(results.values())) == []
    [line] = evidence_lines(results.values())
    assert line == f"linear_regression: sanity 3/3 passed; {NO_BIAS_CHECK}" and "survived" not in line


def test_every_refuter_is_labelled():
    categories = {name: spec.category for name, spec in REFUTERS.items()}
    assert categories == {"placebo": "sanity", "random_common_cause": "sanity", "data_subset": "sanity",
                          "bootstrap": "sanity", "dummy_outcome": "bias", "plasmode": "bias",
                          "negative_control": "bias", "unobserved_common_cause": "sensitivity"}
    assert all(spec.detects and "cannot" in spec.detects for spec in REFUTERS.values())


def test_a_refuter_that_cannot_run_is_recorded_not_dropped(monkeypatch):
    class Always(get("linear_regression")):
        name = "fragile"

        def _fit(self, data):
            raise ValueError("cannot refit")

    data, _ = linear_data(n=500)
    estimate = get("linear_regression")().fit(data).estimate_
    estimate = replace(estimate, estimator="fragile")
    monkeypatch.setitem(_REGISTRY, "fragile", Always)
    [result] = refute_estimates(data, [estimate], ["placebo"], seed=1, simulations=3)
    assert result.status == "failed" and result.verdict == "failed" and result.passed is None
    assert "ValueError: cannot refit" in result.error
    assert survivors([estimate], [result]) == []
    assert "could not run placebo" in evidence_lines([result])[0]


def test_too_few_simulations_are_inconclusive_not_a_verdict():
    data, _ = linear_data(n=1000)
    estimate = get("linear_regression")().fit(data).estimate_
    for result in refute_estimates(data, [estimate], [*SANITY, "dummy_outcome", "plasmode"], seed=1, simulations=2):
        assert result.verdict == "inconclusive" and result.passed is None, result
        assert result.details["reason"] == "too few simulations (2); at least 5 needed"


@pytest.mark.slow
def test_results_do_not_depend_on_worker_count():
    data, _ = linear_data(n=2000)
    estimates = [get(n)(seed=3).fit(data).estimate_ for n in ("linear_regression", "ipw")]
    refuters = ["placebo", "data_subset", "plasmode", "unobserved_common_cause"]
    one = refute_estimates(data, estimates, refuters, seed=9, simulations=5, workers=1)
    two = refute_estimates(data, estimates, refuters, seed=9, simulations=5, workers=2)
    assert [r.to_json() for r in one] == [r.to_json() for r in two]


# --- every refuter's rule on a case where it must pass and one where it must fail ---

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
        elif rule == "counts_covariates_slightly":  # moves by 0.01 SE per covariate: exact, but immaterial
            out = replace(out, value=out.value + 0.01 * out.std_error * data.covariates.shape[1])
        elif rule == "grows_with_n":  # data_subset: moves with the sample size
            out = replace(out, value=data.n / 1000)
        elif rule == "distinct_rows":  # bootstrap: resamples repeat rows, so this drops to ~0.63
            out = replace(out, value=len(np.unique(data.Y)) / data.n)
        elif rule == "offset":  # dummy_outcome, plasmode: a biased estimator finds an effect where there is none
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
    ("bootstrap", "distinct_rows"), ("dummy_outcome", "offset"), ("plasmode", "offset"),
])
def test_each_refuter_passes_a_sound_estimate_and_fails_a_rigged_one(refuter, rule, monkeypatch):
    data, _ = linear_data(n=2000)
    sound = _one(refuter, data)
    assert sound.passed and sound.verdict == "pass", sound
    rigged = _one(refuter, data, rule, monkeypatch=monkeypatch)
    assert rigged.passed is False and rigged.verdict == "fail", rigged
    assert rigged.criterion and (rigged.p_value is not None)
    assert rigged.interval_low <= rigged.new_effect <= rigged.interval_high


def test_an_exact_but_immaterial_shift_is_not_a_refutation(monkeypatch):
    """Issue 21: a shift of 0.01 SE measured with no noise at all is significant, and not a refutation."""
    data, _ = linear_data(n=2000)
    result = _one("random_common_cause", data, "counts_covariates_slightly", monkeypatch=monkeypatch)
    assert result.details["significant"] and not result.details["material"]
    assert result.verdict == "pass" and abs(result.details["shift_in_se"]) < 0.05  # 0.01 SE plus the noise column


def test_placebo_passes_a_correct_null_estimate():
    data, _ = linear_data(n=2000, effect=0.0)
    result = _one("placebo", data)
    assert result.verdict == "pass" and abs(result.original) < 0.15


def test_placebo_of_an_iv_design_permutes_the_instrument_and_is_inconclusive():
    data = causal_data(instrument_unobserved_confounder(n=2000, seed=1))
    estimate = get("iv_2sls")().fit(data).estimate_
    [result] = refute_estimates(data, [estimate], ["placebo"], seed=3, simulations=6)
    assert result.status == "ok" and result.verdict == "inconclusive" and result.passed is None
    assert "permuted instrument leaves 2SLS near the confounded OLS value" in result.details["reason"]


def test_bootstrap_interval_matches_the_estimate_standard_error():
    data, _ = linear_data(n=2000)
    estimate = get("linear_regression")().fit(data).estimate_
    [boot] = refute_estimates(data, [estimate], ["bootstrap"], seed=11, simulations=40)
    # 40 resamples: their SD estimates the SE within about +-25% (chi-square, 39 dof, 2.5 sigma)
    assert 0.75 < boot.new_effect_sd / estimate.std_error < 1.3
    assert boot.passed and boot.interval_low < estimate.value < boot.interval_high


def test_dummy_outcome_keeps_the_confounding_and_is_centred_at_zero_for_a_sound_estimator():
    data, _ = linear_data(n=2000)
    result = _one("dummy_outcome", data, simulations=10)
    assert abs(result.new_effect) < 4 * result.new_effect_sd / np.sqrt(10)
    assert result.details["outcome_model"] in ("linear", "linear+lightgbm") and result.details["rows"] == 2000


def test_hidden_confounder_as_strong_as_the_strongest_observed_leaves_a_strong_effect_standing():
    data, _ = linear_data(n=3000, effect=2.0)
    estimate = get("linear_regression")().fit(data).estimate_
    [result] = refute_estimates(data, [estimate], ["unobserved_common_cause"], seed=2, simulations=3)
    assert result.category == "sensitivity" and result.verdict == "pass"
    assert result.details["benchmark"] == "w0"  # T depends on w0 only through it, and Y strongly
    rows = result.details["multiples"]
    assert [r["multiple"] for r in rows] == [k for k in MULTIPLES if k * result.details["r2_outcome"] < 1]
    # the estimate moves towards zero, more for stronger confounders
    assert all(a["estimate"] > b["estimate"] for a, b in zip(rows, rows[1:])) and rows[0]["estimate"] < estimate.value
    # OLS omitting U loses about sqrt(R2_y R2_d / (1 - R2_d)) SD(Y_perp) / SD(T_perp) (Cinelli-Hazlett eq. 10)
    r2d, r2y = result.details["r2_treatment"], result.details["r2_outcome"]
    loss = np.sqrt(r2y * r2d / (1 - r2d)) * 1.0 / np.sqrt(0.2)  # SD(Y_perp) ~ 1; SD(T_perp) ~ 0.45
    assert rows[1]["estimate"] == pytest.approx(estimate.value - loss, abs=0.35 * loss)


def test_hidden_confounder_fails_an_effect_a_benchmark_strength_confounder_erases():
    data, _ = linear_data(n=3000, effect=0.3)
    result = _one("unobserved_common_cause", data)
    assert result.verdict == "fail" and result.passed is False
    assert result.details["smallest_multiple_removing_significance"] <= 1.0


def test_an_unknown_refuter_is_a_one_line_spec_error_listing_the_eight():
    with pytest.raises(SpecError) as caught:
        check_refuters(SimpleNamespace(name="a", refuters=["placebo", "bootstraps"]))
    assert str(caught.value) == ("analysis 'a': unknown refuter 'bootstraps' in 'refuters'; did you mean 'bootstrap'? "
                                 "expected one of "
                                 "['bootstrap', 'data_subset', 'dummy_outcome', 'negative_control', 'placebo', "
                                 "'plasmode', 'random_common_cause', 'unobserved_common_cause']")


def test_negative_control_without_declared_controls_is_a_one_line_spec_error():
    spec = SimpleNamespace(name="a", refuters=["negative_control"],
                           negative_controls=SimpleNamespace(outcomes=[], exposures=[]))
    with pytest.raises(SpecError) as caught:
        check_refuters(spec)
    assert str(caught.value) == ("analysis 'a': refuter 'negative_control' needs declared controls; set "
                                 "'negative_controls: {outcomes: [...], exposures: [...]}'")


def test_summary_counts_by_category_and_survivors_need_a_passed_bias_check():
    def row(refuter, category, verdict, estimator="e"):
        passed = {"pass": True, "fail": False}.get(verdict)
        return {"refuter": refuter, "estimator": estimator, "category": category, "verdict": verdict,
                "passed": passed, "status": "ok"}

    rows = [row("placebo", "sanity", "pass"), row("bootstrap", "sanity", "inconclusive"),
            row("plasmode", "bias", "pass"), row("negative_control", "bias", "fail"),
            row("placebo", "sanity", "pass", "f"), row("plasmode", "bias", "pass", "f")]
    summary = summarize_evidence(rows)
    assert summary["e"]["bias"]["failed"] == ["negative_control"] and not summary["e"]["survives"]
    assert summary["e"]["line"] == ("e: sanity 1/2 passed, inconclusive bootstrap; bias 1/2 passed, "
                                    "FAILED negative_control")
    assert summary["f"]["survives"] and summary["f"]["line"] == "f: sanity 1/1 passed; bias 1/1 passed"
    estimates = [SimpleNamespace(estimator=n, ok=True) for n in ("e", "f")]
    assert survivors(estimates, rows) == ["f"]
