"""`nuisance: auto`: the data choose linear/logistic or LightGBM by cross-validated loss, by a stated rule."""

import pytest

from data.dgps import causal_data, linear_confounding, nonlinear_confounding
from tasks.estimate.answer import choose_answer
from tasks.estimate.effects import estimate_effects
from tasks.estimate.nuisance_choice import MIN_GAIN, choose_nuisance
from tasks.plan import estimator_options
from whyflow.spec import AnalysisSpec


def spec(tmp_path, **changes) -> AnalysisSpec:
    return AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.csv"}, treatment="t", outcome="y",
                        confounders=["w1", "w2"], **changes)


def test_linear_confounding_keeps_the_linear_models(tmp_path):
    choice = choose_nuisance(causal_data(linear_confounding(n=3000, seed=1)), spec(tmp_path))
    assert (choice.outcome, choice.propensity, choice.source) == ("linear", "logistic", "auto")
    for nuisance in ("outcome", "propensity"):
        assert choice.losses[nuisance]["chosen"] in ("linear", "logistic")
        assert choice.losses[nuisance]["difference"]["relative"] <= MIN_GAIN
    assert choice.rows == 3000 and "2%" in choice.rule


def test_nonlinear_confounding_switches_the_outcome_model_and_removes_the_bias(tmp_path):
    """The outcome depends on the confounders non-linearly: LightGBM cuts the outcome loss by far more
    than the rule's margin, and AIPW with the chosen models covers the truth where linear ones miss."""
    sim = nonlinear_confounding(n=4000, seed=2)
    data = causal_data(sim)
    auto = spec(tmp_path)
    choice = choose_nuisance(data, auto)
    assert choice.outcome == "lightgbm"
    assert choice.losses["outcome"]["difference"]["relative"] > 5 * MIN_GAIN
    planned = {"aipw": estimator_options(auto, "aipw", (choice.outcome, choice.propensity))}
    [chosen] = estimate_effects(data, auto, ["aipw"], planned)
    [linear] = estimate_effects(data, spec(tmp_path, nuisance="linear"), ["aipw"])
    truth = sim.truth["ate"]
    assert chosen.ci_low <= truth <= chosen.ci_high
    assert not linear.ci_low <= truth <= linear.ci_high


def test_nuisance_set_in_the_spec_is_used_as_it_is(tmp_path):
    choice = choose_nuisance(causal_data(linear_confounding(n=500)), spec(tmp_path, nuisance={"outcome": "lightgbm",
                                                                                             "propensity": "logistic"}))
    assert (choice.outcome, choice.propensity, choice.source, choice.losses) == ("lightgbm", "logistic", "spec", {})


@pytest.mark.parametrize("value, message", [
    ("xgboost", "'nuisance' must be auto, linear, lightgbm, random_forest or a mapping"),
    ("{outcome: auto, propensity: linear}", "key 'nuisance.propensity'"),
])
def test_bad_nuisance_values_name_the_key(tmp_path, value, message):
    from whyflow.errors import SpecError
    from whyflow.spec import load_spec

    (tmp_path / "params.yaml").write_text("analyses:\n  a: {data: {path: d.csv}, treatment: t, outcome: y, "
                                          "confounders: [w]}\n")
    with pytest.raises(SpecError, match=message):
        load_spec(tmp_path / "params.yaml", "a", [f"nuisance={value}"])


def test_the_answer_follows_the_design_never_an_average(tmp_path):
    data = causal_data(linear_confounding(n=1500, seed=3))
    estimates = estimate_effects(data, spec(tmp_path), ["linear_regression", "ipw", "aipw"])
    answer = choose_answer(estimates, "backdoor", ("linear", "logistic"))
    assert answer.estimator == "aipw" and answer.estimate == estimates[2].value
    assert "doubly robust" in answer.why and "linear outcome, logistic propensity" in answer.why
    fallback = choose_answer(estimates[:2], "backdoor")
    assert fallback.estimator == "ps_stratification" or fallback.estimator == "ipw"
    assert "aipw did not run or failed" in fallback.why
    assert choose_answer([], "backdoor") is None


def test_estimates_that_spread_wider_than_two_of_the_answers_se_are_a_warning(tmp_path):
    """An exponential outcome surface with strong selection (seeded): linear regression extrapolates to
    0.63 and IPW/AIPW land near 1.45 (truth 1.0), over two of AIPW's SEs apart: a warning. On linear data
    they agree, and nothing is said."""
    import numpy as np
    from scipy.special import expit

    from estimators.base import CausalData
    from tasks.estimate.answer import spread_warning

    rng = np.random.default_rng(0)
    w = rng.normal(size=4000)
    t = rng.binomial(1, expit(2 * w)).astype(float)
    y = np.exp(1.2 * w) + t + rng.normal(size=4000)
    curved = CausalData(Y=y, T=t, covariates=w[:, None], X=np.empty((4000, 0)), covariate_names=["w"], x_names=[])
    names = ["linear_regression", "ipw", "aipw", "ps_stratification"]
    bent = estimate_effects(curved, spec(tmp_path, nuisance="linear"), names)
    warned = spread_warning(bent, "backdoor", choose_answer(bent, "backdoor"))
    assert warned.startswith("the backdoor estimates spread from 0.6338 (linear_regression) to 1.474 (ipw)")
    assert "remedy:" in warned
    fine = estimate_effects(causal_data(linear_confounding(n=4000, seed=5)), spec(tmp_path, nuisance="linear"), names)
    assert spread_warning(fine, "backdoor", choose_answer(fine, "backdoor")) is None
