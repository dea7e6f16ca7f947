"""Instrumental-variable estimators against reference computations and known truth."""

import logging

import numpy as np
import pytest

from data.dgps import causal_data, instrument_unobserved_confounder
from estimators import get
from estimators.iv_2sls import anderson_rubin, first_stage
from tasks.identify.instruments import first_stage_f


def test_2sls_equals_statsmodels_and_the_wald_ratio():
    from statsmodels.sandbox.regression.gmm import IV2SLS

    sim = instrument_unobserved_confounder(n=3000, seed=1)
    data = causal_data(sim)
    est = get("iv_2sls")().fit(data).estimate_
    exog = np.column_stack([np.ones(data.n), data.covariates, data.T])
    instruments = np.column_stack([np.ones(data.n), data.covariates, data.Z])
    reference = IV2SLS(data.Y, exog, instruments).fit()
    assert np.isclose(est.value, reference.params[-1], rtol=1e-10)
    # without covariates, one binary instrument: 2SLS is the Wald ratio of the two reduced forms
    bare = get("iv_2sls")().fit(data.replace(covariates=np.empty((data.n, 0)), covariate_names=[])).estimate_
    z = data.Z[:, 0] == 1
    wald = (data.Y[z].mean() - data.Y[~z].mean()) / (data.T[z].mean() - data.T[~z].mean())
    assert np.isclose(bare.value, wald, rtol=1e-10)


def test_2sls_robust_se_agrees_with_the_bootstrap():
    data = causal_data(instrument_unobserved_confounder(n=2000, seed=2))
    est = get("iv_2sls")().fit(data).estimate_
    rng = np.random.default_rng(0)
    boots = [get("iv_2sls")().fit(data.subset(rng.integers(0, data.n, data.n))).estimate_.value for _ in range(200)]
    # 200 draws estimate an SD to about +-10% (2 sigma of 1/sqrt(2 * 200)); allow 20%.
    assert abs(est.std_error / np.std(boots, ddof=1) - 1) < 0.2


def test_first_stage_f_plain_matches_the_instrument_ranking_and_robust_is_reported():
    sim = instrument_unobserved_confounder(n=3000, seed=3)
    data = causal_data(sim)
    stage = first_stage(data.T, data.Z, data.covariates)
    f, *_ = first_stage_f(sim.frame, "t", "z", ["w"])
    assert np.isclose(stage["f_statistic_homoskedastic"], f, rtol=1e-8)
    est = get("iv_2sls")().fit(data).estimate_
    assert est.details["f_statistic"] == pytest.approx(stage["f_statistic"])
    assert "Kleibergen-Paap" in est.details["f_kind"] and est.details["weak_instrument"] is False


@pytest.mark.slow  # EconML's first import, when run alone
def test_weak_instrument_is_warned_in_details_and_log(caplog):
    data = causal_data(instrument_unobserved_confounder(n=2000, seed=4, strength=0.05))
    with caplog.at_level(logging.WARNING, logger="estimators.iv_2sls"):
        for name in ("iv_2sls", "dml_iv"):
            est = get(name)(seed=1).fit(data).estimate_
            assert est.ok and est.details["weak_instrument"] is True, name
            assert est.details["f_statistic"] < 10 and "weak instrument: first-stage F" in est.details["warning"]
    assert sum("weak instrument" in r.getMessage() for r in caplog.records) == 2


def test_anderson_rubin_set_is_bounded_when_strong_and_widens_when_weak():
    strong = causal_data(instrument_unobserved_confounder(n=3000, seed=5))
    ar = get("iv_2sls")().fit(strong).estimate_.details["anderson_rubin_95"]
    assert ar["kind"] == "interval" and ar["ci_low"] < 2.0 < ar["ci_high"]
    # the AR statistic at the set's end points equals the chi-square critical value (3.84)
    from estimators.ols import ols_hc1

    for b0 in (ar["ci_low"], ar["ci_high"]):
        D = np.column_stack([np.ones(strong.n), strong.W, strong.Z])
        beta, cov = ols_hc1(D, strong.Y - b0 * strong.T)
        assert beta[-1] ** 2 / cov[-1, -1] == pytest.approx(3.8415, rel=1e-3)
    weak = causal_data(instrument_unobserved_confounder(n=2000, seed=6, strength=0.02))
    assert anderson_rubin(weak.Y, weak.T, weak.Z[:, 0], weak.W)["kind"].startswith("unbounded")


def test_estimand_is_late_for_binary_treatment_and_instrument_else_ate_under_homogeneity():
    binary = causal_data(instrument_unobserved_confounder(n=1500, seed=7))
    dose = causal_data(instrument_unobserved_confounder(n=1500, seed=7, continuous=True))
    for name in ("iv_2sls", "dml_iv"):
        assert get(name)(seed=1).fit(binary).estimate_.estimand == "late"
        est = get(name)(seed=1).fit(dose).estimate_
        assert est.estimand == "ate under homogeneity" and abs(est.value - 2.0) < 4 * est.std_error


def test_dml_iv_agrees_with_2sls_on_a_linear_design():
    data = causal_data(instrument_unobserved_confounder(n=4000, seed=8))
    a, b = get("iv_2sls")().fit(data).estimate_, get("dml_iv")(seed=3).fit(data).estimate_
    # both solve the same linear moment; cross-fitting moves the estimate by a small share of an SE
    assert abs(a.value - b.value) < 0.25 * a.std_error and b.std_error == pytest.approx(a.std_error, rel=0.1)


def test_several_instruments_use_the_projection():
    sim = instrument_unobserved_confounder(n=3000, seed=9)
    rng = np.random.default_rng(0)
    z2 = rng.normal(size=sim.frame.shape[0])
    data = causal_data(sim)
    data = data.replace(Z=np.column_stack([data.Z[:, 0], z2]), z_names=["z", "z2"])
    est = get("dml_iv")(seed=1).fit(data).estimate_
    assert est.ok and est.details["projection"] is True and est.estimand == "ate under homogeneity"
    assert abs(est.value - 2.0) < 4 * est.std_error


@pytest.mark.parametrize("name", ["iv_2sls", "dml_iv"])
def test_iv_without_instruments_or_for_the_att_is_not_applicable_by_name(name):
    data = causal_data(instrument_unobserved_confounder(n=500, seed=10))
    est = get(name)().fit(data.replace(Z=None, z_names=[])).estimate_
    assert est.status == "not_applicable" and est.error == f"{name} needs instruments; declare 'instruments' in the spec"
    est = get(name)(estimand="att").fit(data).estimate_
    assert est.status == "not_applicable" and f"{name} cannot target the ATT" in est.error
    constant = data.replace(Z=np.ones((data.n, 1)))
    assert "are constant in the data" in get(name)().fit(constant).estimate_.error


@pytest.mark.parametrize("continuous", [False, True])
def test_a_refit_may_ask_for_the_estimand_that_was_reported(continuous):
    """The refuters refit each estimator with the estimand it reported (LATE, ATE under homogeneity)."""
    data = causal_data(instrument_unobserved_confounder(n=1000, seed=11, continuous=continuous))
    for name in ("iv_2sls", "dml_iv"):
        first = get(name)(seed=1).fit(data).estimate_
        again = get(name)(estimand=first.estimand, seed=1).fit(data).estimate_
        assert again.ok and again.value == pytest.approx(first.value), (name, again.error)


def test_an_instrument_that_is_also_a_covariate_adds_nothing_and_is_refused():
    data = causal_data(instrument_unobserved_confounder(n=500, seed=12))
    both = data.replace(covariates=np.column_stack([data.covariates, data.Z]), covariate_names=[*data.covariate_names, "z"])
    for name in ("iv_2sls", "dml_iv"):
        est = get(name)().fit(both).estimate_
        assert est.status == "not_applicable" and est.error == f"{name}: the instruments add no variation beyond the covariates"
