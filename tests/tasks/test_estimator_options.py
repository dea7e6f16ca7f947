"""The spec's `nuisance` and `estimator_options`: checked before any work, passed to each estimator."""

import numpy as np
import pytest

from estimators.base import CausalData
from tasks.estimate.effects import estimate_effects
from tasks.plan import estimator_options, preflight
from whyflow.errors import SpecError
from whyflow.spec import load_spec

PARAMS = """\
analyses:
  a:
    data: {path: d.csv}
    treatment: t
    outcome: y
    confounders: [w]
    estimators: [aipw, ipw, linear_regression]
"""


def spec_with(tmp_path, *overrides):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    return load_spec(path, "a", list(overrides))


@pytest.mark.parametrize("override, message", [
    ("estimator_options={ipw: {trim: 0.1}}",
     "analysis 'a': estimator_options.ipw: unknown option 'trim'; accepted: clip, propensity_model, stabilize"),
    ("estimator_options={ipw: {clip: 2}}", "analysis 'a': estimator_options.ipw: `clip` must be a number in (0, 0.5) "
                                          "or [low, high]"),
    ("estimator_options={ps_stratification: {num_strata: 0}}",
     "analysis 'a': estimator_options.ps_stratification: `num_strata` must be an integer in [1, 1000]; got 0"),
    ("estimator_options={forest: {n_estimators: 8}}",
     "analysis 'a': unknown estimator 'forest' in 'estimator_options'; did you mean 'causal_forest'? expected one of"),
    ("estimator_options={causal_forest: {n_estimators: 7}}",
     "analysis 'a': estimator_options.causal_forest: `n_estimators` must be a multiple of 4; got 7"),
])
def test_bad_estimator_options_are_one_line_spec_errors(tmp_path, override, message):
    spec = spec_with(tmp_path, override)
    with pytest.raises(SpecError) as caught:
        preflight(spec)
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("override, message", [
    ("nuisance.outcome=xgboost", "analysis 'a': key 'nuisance.outcome': Input should be 'auto', 'linear', 'lightgbm' or "
                                 "'random_forest'; got 'xgboost'"),
    ("nuisance.propensity=linear", "key 'nuisance.propensity': Input should be 'auto', 'logistic', 'lightgbm' or "
                                   "'random_forest'"),
    ("nuisance.trees=5", "analysis 'a': unknown key 'nuisance.trees'"),
    ("estimator_options={ipw: 3}", "analysis 'a': key 'estimator_options.ipw'"),
])
def test_bad_nuisance_values_are_spec_errors_at_load(tmp_path, override, message):
    with pytest.raises(SpecError) as caught:
        spec_with(tmp_path, override)
    assert message in str(caught.value)


def test_the_spec_nuisance_reaches_estimators_that_take_one_and_options_override_it(tmp_path):
    spec = spec_with(tmp_path, "nuisance.outcome=random_forest",
                     "estimator_options={aipw: {propensity_model: lightgbm, cv: 3}, ipw: {stabilize: false}}")
    preflight(spec)
    assert estimator_options(spec, "aipw") == {"outcome_model": "random_forest", "propensity_model": "lightgbm",
                                               "cv": 3}
    assert estimator_options(spec, "ipw") == {"stabilize": False}  # nuisance.propensity is auto: chosen on the data
    assert estimator_options(spec, "linear_regression") == {}
    rng = np.random.default_rng(0)
    w = rng.normal(size=(600, 1))
    t = rng.binomial(1, 0.5, 600).astype(float)
    data = CausalData(Y=w[:, 0] + t + rng.normal(size=600), T=t, covariates=w, X=np.empty((600, 0)), covariate_names=["w"], x_names=[])
    aipw, ipw, _ = estimate_effects(data, spec, ["aipw", "ipw", "linear_regression"])
    assert aipw.details["nuisance"] == {"outcome": "random_forest", "propensity": "lightgbm"}
    assert aipw.details["folds"] == 3 and ipw.details["stabilized"] is False


def test_the_spec_propensity_model_reaches_every_propensity_estimator(tmp_path):
    """ipw, ps_stratification and ps_matching take nuisance.propensity like the DR and DML estimators."""
    spec = spec_with(tmp_path, "nuisance.propensity=lightgbm")
    for name in ("ipw", "ps_stratification", "ps_matching"):
        assert estimator_options(spec, name)["propensity_model"] == "lightgbm"
    rng = np.random.default_rng(1)
    w = rng.normal(size=(800, 1))
    t = rng.binomial(1, 1 / (1 + np.exp(-w[:, 0]))).astype(float)
    data = CausalData(Y=w[:, 0] + t + rng.normal(size=800), T=t, covariates=w, X=np.empty((800, 0)),
                      covariate_names=["w"], x_names=[])
    ipw, strata = estimate_effects(data, spec, ["ipw", "ps_stratification"])
    assert "lightgbm propensity" in ipw.method and ipw.ok and strata.ok
    logistic = estimate_effects(data, spec_with(tmp_path, "nuisance.propensity=logistic"), ["ipw"])[0]
    assert logistic.value != ipw.value and "logistic propensity" in logistic.method
