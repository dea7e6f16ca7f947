"""Sensitivity to unobserved confounding: E-values and the Cinelli-Hazlett analysis, checked against
hand computations and the published Darfur numbers."""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from estimators import get
from tasks.record.metrics import metrics_of
from tasks.evidence.sensitivity import (analyse_sensitivity, check_benchmark, evalue, evalue_of_estimate, ols_sensitivity,
                               partial_r2, robustness_value)
from tests.estimators.test_estimators import linear_data
from whyflow.errors import SpecError
from whyflow.threads import single_threaded

DARFUR = Path(__file__).resolve().parents[1] / "data" / "darfur.csv"


@pytest.fixture(scope="module")
def darfur():
    frame = pd.read_csv(DARFUR)
    covariates = ["age", "farmer_dar", "herder_dar", "pastvoted", "hhsize_darfur", "female"]
    villages = pd.get_dummies(frame["village"], prefix="village", prefix_sep="=", drop_first=True, dtype=float)
    W = np.hstack([frame[covariates].to_numpy(float), villages.to_numpy()])
    with single_threaded():  # as in the flow; two BLAS threads on a busy 2-core machine took 10x longer
        return ols_sensitivity(frame["peacefactor"].to_numpy(float), frame["directlyharmed"].to_numpy(float), W,
                               covariates + list(villages.columns), "female")


def test_darfur_matches_the_published_sensitivity_statistics(darfur):
    # Cinelli & Hazlett (2020), sec. 5 and Table 1 / the minimal sensitivity reporting table
    assert round(darfur.estimate, 3) == 0.097 and round(darfur.se, 3) == 0.023 and round(darfur.t, 2) == 4.18
    assert darfur.dof == 783
    assert round(100 * darfur.r2yd_x, 1) == 2.2
    assert round(100 * darfur.rv_q1, 1) == 13.9
    assert round(100 * darfur.rv_q1_alpha05, 1) == 7.6


def test_darfur_female_benchmark_bounds_match_the_published_ones(darfur):
    # sensemakr's documented Darfur output (Cinelli & Hazlett 2020, Table 2 and Fig. 3):
    # label, R2dz.x, R2yz.dx, adjusted estimate, adjusted SE, adjusted t
    published = [("1x female", 0.0092, 0.1246, 0.0752, 0.0219, 3.4389),
                 ("2x female", 0.0183, 0.2493, 0.0529, 0.0204, 2.6002),
                 ("3x female", 0.0275, 0.3741, 0.0304, 0.0187, 1.6281)]
    for bound, (label, r2d, r2y, est, se, t) in zip(darfur.bounds, published):
        assert bound["label"] == label
        assert round(bound["r2dz_x"], 4) == r2d and round(bound["r2yz_dx"], 4) == r2y
        assert round(bound["adjusted_estimate"], 4) == est and round(bound["adjusted_se"], 4) == se
        assert round(bound["adjusted_t"], 4) == t
    assert darfur.bounds[2]["adjusted_ci_low"] < 0 < darfur.bounds[1]["adjusted_ci_low"]


def test_robustness_value_and_partial_r2_from_t_and_dof_by_hand():
    t, dof = 4.18445, 783
    assert partial_r2(t, dof) == pytest.approx(0.021873, abs=1e-6)
    f = t / math.sqrt(dof)
    assert robustness_value(t, dof) == pytest.approx(0.5 * (math.sqrt(f**4 + 4 * f**2) - f**2))
    assert robustness_value(0.5, dof, alpha=0.05) == 0.0  # not significant to begin with
    assert robustness_value(-t, dof) == robustness_value(t, dof)


def test_evalues_by_hand():
    assert evalue(2.0) == pytest.approx(2 + math.sqrt(2))  # VanderWeele & Ding (2017), eq. 2
    assert evalue(0.5) == pytest.approx(evalue(2.0)) and evalue(1.0) == 1.0
    # continuous outcome: d = 0.5 SD -> RR = exp(0.91 * 0.5)
    row = evalue_of_estimate(5.0, 3.0, 7.0, scale=10.0, binary=False)
    assert row["risk_ratio"] == pytest.approx(math.exp(0.455))
    assert row["evalue_ci"] == pytest.approx(evalue(math.exp(0.91 * 0.3)))  # the bound nearer the null
    assert evalue_of_estimate(5.0, -1.0, 11.0, scale=10.0, binary=False)["evalue_ci"] == 1.0
    # a 0/1 outcome: risk ratio (p0 + effect) / p0, here 0.2 -> 0.15 is RR 0.75
    churn = evalue_of_estimate(-0.05, -0.08, -0.02, scale=0.2, binary=True)
    assert churn["evalue"] == pytest.approx(evalue(0.75)) and churn["evalue_ci"] == pytest.approx(evalue(0.9))


def test_analysis_of_every_estimate_and_its_metric_keys():
    data, _ = linear_data(n=2000)
    estimates = [get(n)(seed=1).fit(data).estimate_ for n in ("linear_regression", "ipw")]
    report = analyse_sensitivity(data, estimates)
    assert report.ols.benchmark == "w0"  # the covariate the treatment depends on most
    assert any("benchmark covariate: w0" in note for note in report.notes)
    assert set(report.per_estimator) == {"linear_regression", "ipw"}
    regression = report.per_estimator["linear_regression"]
    assert regression["rv_q1"] == pytest.approx(report.ols.rv_q1, rel=0.05)  # HC1 vs classical SE only
    metrics = metrics_of({"sensitivity": report.to_json()})
    for key in ("sensitivity.evalue.ipw", "sensitivity.rv_q1.ipw", "sensitivity.rv_q1_alpha05.linear_regression"):
        assert metrics[key] is not None and metrics[key] > 0, key


def test_a_benchmark_the_analysis_does_not_adjust_for_is_a_spec_error():
    spec = SimpleNamespace(name="a", effect_modifiers=["level"], sensitivity=SimpleNamespace(benchmark="income"))
    with pytest.raises(SpecError, match=r"^analysis 'a': key 'sensitivity.benchmark' must be one of the adjusted "
                                        r"covariates \['age', 'level'\]; got 'income'$"):
        check_benchmark(spec, SimpleNamespace(backdoor=["age"]))
    check_benchmark(SimpleNamespace(name="a", effect_modifiers=[], sensitivity=SimpleNamespace(benchmark="age")),
                    SimpleNamespace(backdoor=["age"]))


def test_public_names_import():
    module = importlib.import_module("tasks.evidence.sensitivity")
    assert all(hasattr(module, name) for name in module.__all__)
