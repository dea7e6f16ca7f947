"""EconML adapters: causal forest, sparse DML, DR learner, S/T/X learners; ATE inference, segments, options."""

import numpy as np
import pytest
import statsmodels.api as sm

from estimators import get
from estimators.base import CausalData


def segmented_data(n=4000, seed=0, effects=(1.0, 4.0)):
    """Two segments with different constant effects; the segment is a confounder and the modifier."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n, 2))
    s = rng.binomial(1, 0.5, n)
    t = rng.binomial(1, 1 / (1 + np.exp(-(0.7 * w[:, 0] + 0.5 * s - 0.25)))).astype(float)
    tau = np.where(s == 1, effects[1], effects[0])
    y = 2 + w @ [1.5, -1.0] + 1.0 * s + tau * t + rng.normal(size=n)
    data = CausalData(Y=y, T=t, covariates=np.column_stack([w, s]), X=s[:, None].astype(float), covariate_names=["w0", "w1", "s"],
                      x_names=["s"], segments={"s": np.where(s == 1, "b", "a")})
    truth = {"ate": tau.mean(), "att": tau[t == 1].mean(), "atc": tau[t == 0].mean(),
             "segments": {"a": effects[0], "b": effects[1]}}
    return data, truth


@pytest.mark.slow
def test_causal_forest_recovers_the_segment_effects_with_covering_intervals():
    data, truth = segmented_data(n=4000, seed=1)
    forest = get("causal_forest")(seed=2, n_estimators=100)
    est = forest.fit(data).estimate_
    assert est.ok, est.error
    rows = {r["segment"]: r for r in est.segments["s"]}
    for label, effect in truth["segments"].items():
        assert rows[label]["ci_low"] <= effect <= rows[label]["ci_high"], (label, rows[label])
    assert rows["b"]["ci_low"] > rows["a"]["ci_high"]  # the heterogeneity is found, not averaged away
    # the segment scores are EconML's doubly robust ATE scores: over all rows they give its ate_ and error
    value, se = forest.segment_effect(np.ones(data.n, dtype=bool), est.cate)
    assert np.isclose(value, est.value, rtol=1e-8) and np.isclose(se, est.std_error, rtol=1e-3)
    assert est.details["cate_importance"]["values"]["s"] > 0.5
    assert abs(est.value - truth["ate"]) < 3 * est.std_error


@pytest.mark.slow
def test_causal_forest_ate_ci_is_econml_doubly_robust_ate_inference():
    """Same settings fitted directly: the estimate and its error are `ate__inference()`'s, never the
    mean of per-unit intervals (`ate_interval`)."""
    import warnings

    from econml.dml import CausalForestDML
    from sklearn.linear_model import LinearRegression

    from estimators.propensity import LogisticIRLS

    data, _ = segmented_data(n=3000, seed=3)
    est = get("causal_forest")(seed=4, n_estimators=40).fit(data).estimate_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CausalForestDML(model_y=LinearRegression(), model_t=LogisticIRLS(), discrete_treatment=True,
                                n_estimators=40, n_jobs=1, random_state=4, cv=2)
        model.fit(data.Y, data.T.astype(int), X=data.X, W=data.W[:, :2])
        inference = model.ate__inference()
    assert np.isclose(est.value, float(np.ravel(inference.point_estimate)[0]), rtol=1e-10)
    assert np.isclose(est.std_error, float(np.ravel(inference.stderr)[0]), rtol=1e-10)


@pytest.mark.parametrize("estimand", ["att", "atc"])
def test_causal_forest_and_dr_learner_target_att_and_atc(estimand):
    data, truth = segmented_data(n=3000, seed=5)
    for name, options in (("causal_forest", {"n_estimators": 40}), ("dr_learner", {})):
        est = get(name)(estimand=estimand, seed=6, **options).fit(data).estimate_
        assert est.ok and est.estimand == estimand, est.error
        assert abs(est.value - truth[estimand]) < 3 * est.std_error, (name, est.value, truth[estimand])


def test_constant_effect_models_refuse_att_without_effect_modifiers():
    data, _ = segmented_data(n=500)
    plain = data.replace(X=np.empty((data.n, 0)), x_names=[])
    for name in ("dr_learner", "linear_dml", "sparse_linear_dml"):
        est = get(name)(estimand="att").fit(plain).estimate_
        assert est.status == "not_applicable" and f"{name} targets the ATT" in est.error, (name, est.error)
    for name in ("causal_forest", "t_learner"):
        dose = data.replace(T=data.T + 0.5, treatment_type="continuous")
        assert f"{name} does not take a continuous treatment" in get(name)().fit(dose).estimate_.error


def test_t_and_s_learners_with_linear_models_equal_ols_references():
    data, _ = segmented_data(n=2000, seed=7)
    t_est = get("t_learner")(bootstrap=0).fit(data).estimate_
    D = sm.add_constant(data.covariates)
    b1 = sm.OLS(data.Y[data.T == 1], D[data.T == 1]).fit().params
    b0 = sm.OLS(data.Y[data.T == 0], D[data.T == 0]).fit().params
    assert np.isclose(t_est.value, np.mean(D @ (b1 - b0)), rtol=1e-8)
    assert np.isnan(t_est.std_error)  # bootstrap: 0 gives no CI, honestly
    s_est = get("s_learner")(bootstrap=0).fit(data).estimate_
    ref = sm.OLS(data.Y, sm.add_constant(np.column_stack([data.covariates, data.T]))).fit().params[-1]
    assert np.isclose(s_est.value, ref, rtol=1e-8)


def test_meta_learner_bootstrap_is_seeded_and_its_segment_cis_cover_the_truth():
    data, truth = segmented_data(n=3000, seed=8)
    one = get("x_learner")(seed=3, bootstrap=30).fit(data).estimate_
    two = get("x_learner")(seed=3, bootstrap=30).fit(data).estimate_
    assert one.std_error == two.std_error and one.details["bootstrap"] == 30
    assert abs(one.value - truth["ate"]) < 3 * one.std_error
    for row in one.segments["s"]:
        assert row["ci_low"] <= truth["segments"][row["segment"]] <= row["ci_high"], row


@pytest.mark.slow
def test_segment_cis_cover_the_true_segment_effects_for_every_cate_estimator():
    data, truth = segmented_data(n=4000, seed=9)
    names = ["linear_regression", "linear_dml", "sparse_linear_dml", "dr_learner", "t_learner", "causal_forest"]
    for name in names:
        options = {"bootstrap": 30} if name == "t_learner" else {}
        est = get(name)(seed=1, **options).fit(data).estimate_
        assert est.ok, (name, est.error)
        for row in est.segments["s"]:
            assert np.isfinite(row["std_error"]) and row["n"] == int((data.segments["s"] == row["segment"]).sum())
            assert row["ci_low"] <= truth["segments"][row["segment"]] <= row["ci_high"], (name, row)


SEGMENT_REPLICATIONS = 60


@pytest.mark.slow
def test_segment_ci_coverage_of_the_dr_learner():
    """60 seeded draws, 2 segments each: 120 intervals. At true coverage 0.95 the share has sd 0.020;
    below 0.90 (2.5 sd) has binomial probability about 1% (and the seeds are fixed, so it never flakes)."""
    covered = total = 0
    for rep in range(SEGMENT_REPLICATIONS):
        data, truth = segmented_data(n=1200, seed=20_000 + rep)
        est = get("dr_learner")(seed=rep).fit(data).estimate_
        for row in est.segments["s"]:
            covered += row["ci_low"] <= truth["segments"][row["segment"]] <= row["ci_high"]
            total += 1
    assert 0.90 <= covered / total <= 0.995, covered  # all 120 covered (probability 0.2% at 0.95): too wide


def test_sparse_linear_dml_agrees_with_linear_dml_and_reports_coefficients():
    data, _ = segmented_data(n=3000, seed=10)
    sparse = get("sparse_linear_dml")(seed=1).fit(data).estimate_
    dense = get("linear_dml")(seed=1).fit(data).estimate_
    assert abs(sparse.value - dense.value) < 0.5 * dense.std_error
    coef = sparse.details["cate_importance"]["values"]["s"]
    assert abs(coef - 3.0) < 4 * dense.std_error * 2  # the true effect difference between segments is 3


@pytest.mark.parametrize("name, options, message", [
    ("causal_forest", {"n_estimators": 10}, "`n_estimators` must be a multiple of 4; got 10"),
    ("causal_forest", {"honest": "yes"}, "`honest` must be true or false"),
    ("causal_forest", {"max_samples": 0.6}, "`max_samples` must be a number in (0.0, 0.5]; got 0.6"),
    ("causal_forest", {"min_balancedness_tol": 0.7}, "`min_balancedness_tol` must be a number in [0.0, 0.5]"),
    ("causal_forest", {"min_var_leaf": 0.1, "min_var_fraction_leaf": 0.1}, "give one of them"),
    ("causal_forest", {"trees": 100}, "unknown option 'trees'; accepted: cv, honest, max_depth"),
    ("s_learner", {"bootstrap": 1}, "`bootstrap` must be 0 (no CI) or at least 2; got 1"),
    ("s_learner", {"propensity_model": "logistic"}, "unknown option 'propensity_model'"),
    ("sparse_linear_dml", {"alpha": -1}, "`alpha` must be 'auto' or a number > 0; got -1"),
    ("dr_learner", {"propensity_model": "svm"}, "`propensity_model` must be one of logistic, lightgbm, random_forest"),
])
def test_bad_econml_options_are_refused_with_one_line(name, options, message):
    with pytest.raises(ValueError) as caught:
        get(name).check_options(options)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_causal_forest_settings_reach_econml():
    data, _ = segmented_data(n=1500, seed=11)
    est = get("causal_forest")(n_estimators=8, min_samples_leaf=40, max_depth=3, min_var_leaf=0.05,
                               min_balancedness_tol=0.3, honest=False, max_samples=0.4).fit(data).estimate_
    assert est.ok, est.error
    assert est.details["settings"] == {"n_estimators": 8, "min_samples_leaf": 40, "max_depth": 3,
                                       "min_var_fraction_leaf": 0.05, "min_balancedness_tol": 0.3, "honest": False,
                                       "max_samples": 0.4, "cv": 2}
