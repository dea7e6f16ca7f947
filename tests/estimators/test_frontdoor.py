"""Front-door adjustment: the product of two OLS coefficients, its stacked-sandwich SE, refusals."""

import numpy as np
import pytest

from data.dgps import causal_data, frontdoor_mediator, linear_confounding
from estimators import get


def test_point_estimate_is_the_product_of_statsmodels_coefficients():
    import statsmodels.api as sm

    data = causal_data(frontdoor_mediator(n=3000, seed=1))
    est = get("frontdoor")().fit(data).estimate_
    a = sm.OLS(data.M[:, 0], sm.add_constant(data.T)).fit().params[1]
    b = sm.OLS(data.Y, sm.add_constant(np.column_stack([data.M[:, 0], data.T]))).fit().params[1]
    assert est.ok and est.value == pytest.approx(a * b, rel=1e-10)
    assert est.details["t_to_m"] == [pytest.approx(a)] and est.details["m_to_y_given_t"] == [pytest.approx(b)]


def test_se_agrees_with_the_bootstrap_and_the_naive_regression_is_confounded():
    data = causal_data(frontdoor_mediator(n=2000, seed=2))
    est = get("frontdoor")().fit(data).estimate_
    rng = np.random.default_rng(0)
    boots = [get("frontdoor")().fit(data.subset(rng.integers(0, data.n, data.n))).estimate_.value for _ in range(300)]
    # 300 draws estimate an SD to about +-8% (2 sigma); allow 20%.
    assert abs(est.std_error / np.std(boots, ddof=1) - 1) < 0.2
    assert est.ci_low < 1.2 < est.ci_high
    naive = np.polyfit(data.T, data.Y, 1)[0]
    assert naive > est.ci_high  # the latent confounder inflates the unadjusted slope


def test_without_mediators_frontdoor_is_not_applicable_and_back_door_ones_refuse_without_a_back_door_set():
    est = get("frontdoor")().fit(causal_data(linear_confounding(n=500, seed=3))).estimate_
    assert est.status == "not_applicable" and est.error.startswith("frontdoor needs a front-door set of mediators")
    data = causal_data(frontdoor_mediator(n=500, seed=3))
    est = get("linear_regression")().fit(data).estimate_
    assert est.status == "not_applicable"
    assert est.error == ("linear_regression adjusts for back-door confounders, and the graph identifies no back-door "
                         "adjustment set")
    assert "frontdoor cannot target the ATT" in get("frontdoor")(estimand="att").fit(data).estimate_.error


def test_continuous_treatment_gives_the_marginal_effect():
    rng = np.random.default_rng(4)
    data = causal_data(frontdoor_mediator(n=3000, seed=4))
    u = data.Y - 0.8 * data.M[:, 0]  # the latent part is still in Y; reuse it to confound a dose
    dose = u / 2 + rng.normal(size=data.n)
    m = 1.5 * dose + rng.normal(size=data.n)
    y = 0.8 * m + u + rng.normal(size=data.n)
    est = get("frontdoor")().fit(data.replace(T=dose, M=m[:, None], Y=y, treatment_type="continuous")).estimate_
    assert est.ok and est.ci_low < 1.2 < est.ci_high
