"""Propensity matching, AIPW and IPW options against manual reference implementations and known truth."""

import numpy as np
import pytest

from estimators import get
from estimators.aipw import cross_fit_nuisances
from estimators.scores import dr_scores
from estimators.base import CausalData
from estimators.propensity import propensity_scores


def heterogeneous_data(n=3000, seed=0):
    """Confounded binary treatment; effect 2 + 1.5 x (x binary, also a confounder), so the ATE, ATT and
    ATC differ and are known per sample."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, 2))
    x = rng.binomial(1, 0.4, n).astype(float)
    t = rng.binomial(1, 1 / (1 + np.exp(-(0.8 * w[:, 0] - 0.5 * w[:, 1] + 0.6 * x)))).astype(float)
    tau = 2.0 + 1.5 * x
    y = 1 + w @ [1.0, -2.0] + 0.5 * x + tau * t + rng.normal(size=n)
    data = CausalData(Y=y, T=t, covariates=np.column_stack([w, x]), X=x[:, None], covariate_names=["w0", "w1", "x"], x_names=["x"],
                      segments={"x": np.where(x == 1, "high", "low")})
    truth = {"ate": tau.mean(), "att": tau[t == 1].mean(), "atc": tau[t == 0].mean()}
    return data, truth


def manual_matching(data, m=1):
    """Brute-force nearest-neighbour matching on the logit propensity and Abadie-Imbens (2006) errors,
    written from the paper's formulas with explicit loops."""
    e, _ = propensity_scores(data.covariates, data.T)
    s = np.log(e / (1 - e))
    t, y, n = data.T, data.Y, data.n
    k = np.zeros(n)
    imputed = np.zeros(n)
    sigma2 = np.zeros(n)
    for i in range(n):
        other = np.flatnonzero(t != t[i])
        near = other[np.argsort(np.abs(s[other] - s[i]), kind="stable")[:m]]
        imputed[i] = y[near].mean()
        k[near] += 1
        same = np.flatnonzero((t == t[i]) & (np.arange(n) != i))
        j = same[np.argmin(np.abs(s[same] - s[i]))]
        sigma2[i] = (y[i] - y[j]) ** 2 / 2
    unit = np.where(t == 1, y - imputed, imputed - y)
    ate = unit.mean()
    v_ate = (((unit - ate) ** 2).sum() + (((k / m) ** 2 + (2 * m - 1) / m * k / m) * sigma2).sum()) / n**2
    out = {"ate": (ate, np.sqrt(v_ate))}
    for name, focal in (("att", t == 1), ("atc", t == 0)):
        tau = unit[focal].mean()
        v = (((unit[focal] - tau) ** 2).sum() + (k[~focal] * (k[~focal] - 1) / m**2 * sigma2[~focal]).sum())
        out[name] = (tau, np.sqrt(v) / focal.sum())
    return out


@pytest.mark.parametrize("m", [1, 3])
def test_matching_equals_a_brute_force_reference_for_ate_att_atc(m):
    data, _ = heterogeneous_data(n=400, seed=1)
    reference = manual_matching(data, m)
    for estimand in ("ate", "att", "atc"):
        est = get("ps_matching")(estimand=estimand, neighbours=m).fit(data).estimate_
        assert est.ok, est.error
        assert np.isclose(est.value, reference[estimand][0], rtol=1e-10), estimand
        assert np.isclose(est.std_error, reference[estimand][1], rtol=1e-8), estimand


def test_matching_and_aipw_target_each_estimand_near_its_truth():
    data, truth = heterogeneous_data(n=6000, seed=2)
    assert truth["att"] - truth["atc"] > 0.1  # the estimands differ, so the test can tell them apart
    for name in ("ps_matching", "aipw"):
        for estimand in ("ate", "att", "atc"):
            est = get(name)(estimand=estimand, seed=3).fit(data).estimate_
            assert est.estimand == estimand
            assert abs(est.value - truth[estimand]) < 3 * est.std_error, (name, estimand, est.value, truth[estimand])


def test_aipw_scores_equal_the_textbook_formulas():
    rng = np.random.default_rng(4)
    n = 50
    y, t = rng.normal(size=n), rng.binomial(1, 0.5, n).astype(float)
    mu0, mu1, e = rng.normal(size=n), rng.normal(size=n), rng.uniform(0.2, 0.8, n)
    ate, psi = dr_scores(y, t, mu0, mu1, e, "ate")
    assert np.isclose(ate, np.mean(mu1 - mu0 + t * (y - mu1) / e - (1 - t) * (y - mu0) / (1 - e)))
    att, psi_t = dr_scores(y, t, mu0, mu1, e, "att")
    manual = (np.sum(t * (y - mu0)) - np.sum((1 - t) * e / (1 - e) * (y - mu0))) / t.sum()
    assert np.isclose(att, manual) and abs(psi_t.mean()) < 1e-12 and abs(psi.mean()) < 1e-12
    atc, _ = dr_scores(y, t, mu0, mu1, e, "atc")
    manual = (np.sum((1 - t) * (mu1 - y)) + np.sum(t * (1 - e) / e * (y - mu1))) / (1 - t).sum()
    assert np.isclose(atc, manual)


@pytest.mark.slow
def test_aipw_equals_its_manual_cross_fit_and_is_near_econml_drlearner():
    import warnings

    from econml.dr import DRLearner
    from sklearn.linear_model import LinearRegression

    from estimators.propensity import LogisticIRLS

    data, _ = heterogeneous_data(n=4000, seed=5)
    est = get("aipw")(seed=7, clip=0.0).fit(data).estimate_
    mu0, mu1, e = cross_fit_nuisances(data, cv=5, seed=7, outcome="linear", propensity="logistic")
    value, psi = dr_scores(data.Y, data.T, mu0, mu1, e, "ate")
    assert np.isclose(est.value, value, rtol=1e-12)
    assert np.isclose(est.std_error, psi.std() / np.sqrt(data.n), rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = DRLearner(model_propensity=LogisticIRLS(), model_regression=LinearRegression(),
                              cv=5, random_state=0).fit(data.Y, data.T.astype(int), X=None, W=data.covariates)
        econml_ate = float(np.ravel(reference.ate_inference().mean_point)[0])
    # different folds and EconML's outcome model without T interactions: agreement within half an SE
    assert abs(est.value - econml_ate) < 0.5 * est.std_error, (est.value, econml_ate)


@pytest.mark.slow
def test_aipw_with_lightgbm_nuisances_uses_them_and_stays_near_truth():
    data, truth = heterogeneous_data(n=3000, seed=6)
    est = get("aipw")(seed=1, outcome_model="lightgbm", propensity_model="lightgbm").fit(data).estimate_
    assert est.details["nuisance"] == {"outcome": "lightgbm", "propensity": "lightgbm"}
    assert abs(est.value - truth["ate"]) < 3 * est.std_error


def test_ipw_horvitz_thompson_and_clipping_equal_manual_formulas():
    data, _ = heterogeneous_data(n=2000, seed=8)
    e, _ = propensity_scores(data.covariates, data.T)
    t, y = data.T, data.Y
    ht = get("ipw")(stabilize=False).fit(data).estimate_
    assert np.isclose(ht.value, np.mean(t * y / e) - np.mean((1 - t) * y / (1 - e)), rtol=1e-10)
    hajek = get("ipw")().fit(data).estimate_
    assert not np.isclose(ht.value, hajek.value) and ht.std_error > hajek.std_error
    ec = np.clip(e, 0.2, 0.8)
    clipped = get("ipw")(clip=0.2).fit(data).estimate_
    w1, w0 = t / ec, (1 - t) / (1 - ec)
    assert np.isclose(clipped.value, w1 @ y / w1.sum() - w0 @ y / w0.sum(), rtol=1e-10)
    assert clipped.details["clipped_units"] == int(((e < 0.2) | (e > 0.8)).sum()) > 0
    assert get("ipw")(clip=[0.2, 0.8]).fit(data).estimate_.value == clipped.value


def test_horvitz_thompson_sandwich_error_agrees_with_the_bootstrap():
    data, _ = heterogeneous_data(n=2000, seed=9)
    for estimand in ("ate", "att"):
        est = get("ipw")(stabilize=False, estimand=estimand).fit(data).estimate_
        rng = np.random.default_rng(0)
        boots = [get("ipw")(stabilize=False, estimand=estimand).fit(data.subset(rng.integers(0, data.n, data.n)))
                 .estimate_.value for _ in range(150)]
        # 150 bootstrap draws estimate an SD to about +-12% (1 / sqrt(2 * 150) relative error, 2 sigma)
        assert abs(est.std_error / np.std(boots, ddof=1) - 1) < 0.2, estimand


@pytest.mark.parametrize("name, options, message", [
    ("ipw", {"clip": 0.7}, "`clip` must be a number in (0, 0.5)"),
    ("ipw", {"stabilize": "yes"}, "`stabilize` must be true or false; got 'yes'"),
    ("ipw", {"trim": 0.1}, "unknown option 'trim'; accepted: clip, propensity_model, stabilize"),
    ("aipw", {"cv": 1}, "`cv` must be an integer in [2, 20]; got 1"),
    ("aipw", {"outcome_model": "xgboost"}, "`outcome_model` must be one of linear, lightgbm, random_forest"),
    ("ps_matching", {"neighbours": 0}, "`neighbours` must be an integer in [1, 100]; got 0"),
])
def test_bad_options_are_refused_with_one_line(name, options, message):
    with pytest.raises(ValueError) as caught:
        get(name).check_options(options)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_continuous_treatment_is_refused_by_name():
    data, _ = heterogeneous_data(n=500)
    dose = data.replace(T=data.T + np.random.default_rng(0).normal(size=data.n), treatment_type="continuous")
    for name in ("aipw", "ps_matching"):
        est = get(name)().fit(dose).estimate_
        assert est.status == "not_applicable" and f"{name} does not take a continuous treatment" in est.error


REPLICATIONS = 200


@pytest.mark.slow
def test_aipw_and_matching_coverage_on_a_confounded_heterogeneous_design():
    """200 seeded draws of 2,000 units. At true coverage 0.95 the observed share has sd 0.0154, so
    falling below 0.90 (3.2 sd) has binomial probability under 0.1%: the threshold catches CIs that are
    too narrow, not noise. Bias: the mean error must be within 3 Monte-Carlo standard errors of zero
    for AIPW; matching (no bias correction) within 0.05, a tenth of its typical standard error."""
    cases = [("aipw", "ate"), ("aipw", "att"), ("ps_matching", "ate"), ("ps_matching", "att")]
    errors = {c: [] for c in cases}
    covered = {c: 0 for c in cases}
    for rep in range(REPLICATIONS):
        data, truth = heterogeneous_data(n=2000, seed=10_000 + rep)
        for name, estimand in cases:
            est = get(name)(estimand=estimand, seed=rep).fit(data).estimate_
            errors[(name, estimand)].append(est.value - truth[estimand])
            covered[(name, estimand)] += est.ci_low <= truth[estimand] <= est.ci_high
    for case in cases:
        err = np.asarray(errors[case])
        assert 0.90 <= covered[case] / REPLICATIONS <= 0.99, (case, covered[case])  # too wide fails too
        limit = 3 * err.std(ddof=1) / np.sqrt(REPLICATIONS) if case[0] == "aipw" else 0.05
        assert abs(err.mean()) < limit, (case, err.mean())
