"""Regression discontinuity: rdrobust's published example, a simulated jump, the diagnostics, refusals."""

import re

import numpy as np
import pytest

from data.dgps import causal_data, sharp_discontinuity
from estimators import get
from estimators.base import CausalData


def _senate() -> CausalData:
    from rdrobust.datasets import rdrobust_RDsenate

    frame = rdrobust_RDsenate().dropna(subset=["vote", "margin"])
    frame = frame.assign(democrat_won=(frame.margin >= 0).astype(int))
    return CausalData.from_frame(frame, treatment="democrat_won", outcome="vote", adjustment=[],
                                 running_variable="margin", cutoff=0.0, backdoor_identified=False)


@pytest.mark.slow  # rdrobust's first import and the placebo fits
def test_senate_example_reproduces_the_published_numbers():
    """Cattaneo, Frandsen & Titiunik (2015) Senate data, the example of Calonico, Cattaneo, Farrell &
    Titiunik (2017, Stata Journal 17(2)): local-linear, triangular kernel, mserd bandwidth 17.754,
    conventional estimate 7.414 (SE 1.459), robust bias-corrected 95% CI [4.094, 10.919], 360 and
    323 effective observations left and right of the cutoff."""
    est = get("rdd")().fit(_senate()).estimate_
    assert est.ok and est.estimand == "late at cutoff"
    assert est.value == pytest.approx(7.4141, abs=1e-3)
    assert est.details["se_conventional"] == pytest.approx(1.4587, abs=1e-3)
    assert (est.ci_low, est.ci_high) == (pytest.approx(4.0937, abs=1e-3), pytest.approx(10.9193, abs=1e-3))
    assert est.details["bandwidth"]["h_left"] == pytest.approx(17.754, abs=1e-3)
    assert (est.details["n_left_in_bandwidth"], est.details["n_right_in_bandwidth"]) == (360, 323)
    assert est.n == 683 and est.details["n_left"] + est.details["n_right"] == 1297
    # no sign of sorting at the cutoff; no jump at the placebo cutoffs
    assert est.details["density_test_p"] > 0.05
    assert all(p["p_value"] > 0.05 for p in est.details["placebo_cutoffs"])


def test_simulated_jump_is_recovered_with_diagnostics():
    data = causal_data(sharp_discontinuity(n=3000, seed=1))
    est = get("rdd")().fit(data).estimate_
    assert est.ok and est.ci_low < 2.0 < est.ci_high
    assert est.details["n_left"] + est.details["n_right"] == 3000
    sides = [p["side"] for p in est.details["placebo_cutoffs"]]
    assert sides == ["left", "right"] and all(p["cutoff"] != 0.0 for p in est.details["placebo_cutoffs"])
    assert 0.0 <= est.details["density_test_p"] <= 1.0


def test_treated_below_the_cutoff_flips_the_sign():
    data = causal_data(sharp_discontinuity(n=2000, seed=2))
    above = get("rdd")(diagnostics=False).fit(data).estimate_
    below = get("rdd")(diagnostics=False).fit(data.replace(T=1 - data.T, Y=data.Y - 4.0 * data.T)).estimate_
    # treated below with the same jump size: the outcome drops by 2 when crossing upward
    assert below.details["treated_side"] == "below"
    assert below.value == pytest.approx(-(above.value - 4.0), rel=1e-9)


def test_rdd_refuses_without_a_running_variable_a_fuzzy_design_and_a_continuous_treatment():
    data = causal_data(sharp_discontinuity(n=1000, seed=3))
    est = get("rdd")().fit(data.replace(R=None, cutoff=None)).estimate_
    assert est.status == "not_applicable"
    assert est.error == "rdd needs a running variable and a cutoff; declare 'running_variable' and 'cutoff' in the spec"
    fuzzy = data.replace(T=np.where(np.arange(data.n) % 10 == 0, 1 - data.T, data.T))
    est = get("rdd")().fit(fuzzy).estimate_
    assert est.status == "not_applicable" and "not a sharp step at the cutoff 0 (100 of 1000 units" in est.error
    assert est.error.endswith("for a fuzzy design set estimator_options: {rdd: {fuzzy: true}}")
    est = get("rdd")().fit(data.replace(treatment_type="continuous")).estimate_
    assert est.error == "rdd does not take a continuous treatment"
    assert "every unit lies on one side" in get("rdd")().fit(data.replace(cutoff=5.0)).estimate_.error


@pytest.mark.parametrize("options, message", [
    ({"kernel": "gauss"}, "estimator_options.rdd: `kernel` must be one of triangular, epanechnikov, uniform; got 'gauss'"),
    ({"p": 9}, "estimator_options.rdd: `p` must be an integer in [0, 4]; got 9"),
    ({"bandwidth": 3}, "estimator_options.rdd: unknown option 'bandwidth'; accepted: bwselect, diagnostics, fuzzy, "
                       "kernel, p"),
])
def test_bad_rdd_options_are_spec_errors(tmp_path, options, message):
    from tasks.plan import preflight
    from whyflow.errors import SpecError
    from whyflow.spec import AnalysisSpec

    spec = AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.parquet"}, treatment="t", outcome="y",
                        confounders=[], running_variable="score", cutoff=0.0, estimator_options={"rdd": options})
    with pytest.raises(SpecError, match=re.escape(f"analysis 'a': {message}")):
        preflight(spec)


def test_declared_fuzzy_design_recovers_the_complier_effect():
    """Take-up 10% below the cutoff and 80% above, constant effect 2: the jump in the outcome over
    the jump in take-up (0.7) is 2; the sharp estimator would have refused this design."""
    rng = np.random.default_rng(5)
    n = 4000
    r = rng.uniform(-1.0, 1.0, n)
    t = rng.binomial(1, np.where(r >= 0, 0.8, 0.1)).astype(float)
    y = 0.5 + r - 0.5 * r**2 + 2.0 * t + rng.normal(0.0, 0.5, n)
    data = CausalData(Y=y, T=t, covariates=np.empty((n, 0)), X=np.empty((n, 0)), covariate_names=[], x_names=[], R=r, cutoff=0.0)
    assert get("rdd")().fit(data).estimate_.status == "not_applicable"
    est = get("rdd")(fuzzy=True, diagnostics=False).fit(data).estimate_
    assert est.ok and est.details["design"] == "fuzzy" and est.ci_low < 2.0 < est.ci_high
    assert est.details["first_stage_jump"] == pytest.approx(0.7, abs=0.1) and est.details["first_stage_p"] < 1e-6


def test_a_refit_may_ask_for_the_estimand_that_was_reported():
    data = causal_data(sharp_discontinuity(n=1000, seed=6))
    first = get("rdd")(diagnostics=False).fit(data).estimate_
    assert get("rdd")(estimand=first.estimand, diagnostics=False).fit(data).estimate_.value == first.value
