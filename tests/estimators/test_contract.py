"""The estimator contract every registered estimator follows (CONTRIBUTING.md, estimators/base.py)."""

import numpy as np
import pytest

from estimators import registry
from tests.estimators.test_estimators import linear_data

REGISTERED = ["linear_regression", "ps_stratification", "ipw", "linear_dml", "ps_matching", "aipw", "sparse_linear_dml",
              "causal_forest", "dr_learner", "s_learner", "t_learner", "x_learner", "iv_2sls", "dml_iv", "rdd",
              "frontdoor", "stream_linear_regression", "stream_linear_dml", "stream_aipw"]


def test_the_registry_lists_every_estimator_it_listed_before_the_restructure():
    assert set(REGISTERED) <= set(registry.available())


@pytest.mark.parametrize("name", REGISTERED)
def test_a_misspelt_option_fails_at_construction_naming_the_accepted_ones(name):
    cls = registry.get(name)
    with pytest.raises(ValueError) as caught:
        cls(estimand="ate", seed=0, n_estimatorz=10)
    message = str(caught.value)
    assert message.startswith("unknown option 'n_estimatorz'; accepted: ") and "\n" not in message
    for option in cls.Options.model_fields:
        assert option in message


@pytest.mark.parametrize("name", REGISTERED)
def test_parameters_are_keyword_only_and_every_option_has_one_documented_default(name):
    cls = registry.get(name)
    with pytest.raises(TypeError):
        cls("ate")
    built = cls()
    for option, doc in cls.Options.describe().items():
        assert doc.endswith(f"(default {getattr(built.options, option)!r})")


def test_a_bad_value_names_the_option_and_what_was_expected():
    with pytest.raises(ValueError, match=r"^`cv` must be an integer in \[2, 20\]; got 1$"):
        registry.get("aipw")(cv=1)
    with pytest.raises(ValueError, match=r"^`n_estimators` must be a multiple of 4; got 7$"):
        registry.get("causal_forest")(n_estimators=7)


def test_clip_means_the_same_in_ipw_and_aipw():
    """c bounds the propensity to [c, 1 - c]; a pair is [low, high]: both estimators accept both forms."""
    data, _ = linear_data(n=1500, seed=2)
    for name in ("ipw", "aipw"):
        symmetric = registry.get(name)(clip=0.1).fit(data).estimate_
        pair = registry.get(name)(clip=[0.1, 0.9]).fit(data).estimate_
        assert symmetric.value == pair.value


def test_fit_returns_self_with_ate_interval_and_effect():
    data, _ = linear_data(n=1500, seed=3)
    fitted = registry.get("linear_regression")().fit(data)
    estimate = fitted.estimate_
    assert fitted.ate() == estimate.value
    low, high = fitted.ate_interval()
    assert np.isclose(low, estimate.ci_low) and np.isclose(high, estimate.ci_high)
    wide = fitted.ate_interval(alpha=0.01)
    assert wide[0] < low and wide[1] > high
    with pytest.raises(RuntimeError, match="not fitted"):
        registry.get("ipw")().ate()


@pytest.mark.parametrize("name", ["linear_regression", "linear_dml", "sparse_linear_dml", "dr_learner", "causal_forest",
                                  "s_learner", "t_learner", "x_learner"])
def test_effect_on_new_rows_reproduces_the_in_sample_cate(name):
    """effect(features(data)) on the rows the estimator was fitted on is its own CATE: the same state
    predicts held-out rows (the decision layer's out-of-fold CATE)."""
    from tests.estimators.test_backdoor_suite import heterogeneous_data

    data, _ = heterogeneous_data(n=600, seed=4)
    options = {"bootstrap": 0} if name.endswith("_learner") and name != "dr_learner" else {}
    if name == "causal_forest":
        options = {"n_estimators": 40}
    fitted = registry.get(name)(**options).fit(data)
    assert fitted.estimate_.ok, fitted.estimate_.error
    assert np.allclose(fitted.effect(fitted.features(data)), fitted.estimate_.cate, rtol=1e-6, atol=1e-8)
    held_out = fitted.effect(fitted.features(data.subset(np.arange(50))))
    assert held_out.shape == (50,)
