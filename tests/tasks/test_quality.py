import numpy as np
import pandas as pd

from tasks.data.quality import check_quality
from whyflow.spec import AnalysisSpec


def spec(**gates):
    return AnalysisSpec(name="a", base_dir=".", data={"path": "d.csv"}, treatment="t", outcome="y",
                        confounders=["x"], gates=gates)


def frame(x_nulls=0, n=200):
    x = np.arange(n, dtype=float)
    x[:x_nulls] = np.nan
    return pd.DataFrame({"t": np.tile([0, 1], n // 2), "y": np.linspace(0, 1, n), "x": x})


def test_clean_data_passes_every_expectation():
    report = check_quality(frame(), spec(), ["x"])
    assert report.success and report.failed == [] and report.evaluated >= 7
    assert report.validation["statistics"]["unsuccessful_expectations"] == 0


def test_covariate_nulls_beyond_a_declared_gate_fail_in_whyflows_words():
    report = check_quality(frame(x_nulls=10), spec(max_null_fraction=0.02), ["x"])
    assert not report.success
    assert report.failed == ["gates.max_null_fraction = 0.02; column 'x' is 5.0% null "
                             "(10 rows without it are left out of the analysis)"]
    assert report.null_fractions["x"] == 0.05 and report.warnings == []


def test_covariate_nulls_beyond_a_default_gate_only_warn():
    report = check_quality(frame(x_nulls=10), spec(), ["x"])
    assert report.success and report.failed == []
    assert report.warnings == ["gates.max_null_fraction = 0.0 (default, not declared: a warning); column 'x' is "
                               "5.0% null (10 rows without it are left out of the analysis)"]


def test_covariate_nulls_within_the_gate_pass():
    assert check_quality(frame(x_nulls=10), spec(max_null_fraction=0.06), ["x"]).success


def test_too_few_rows_fail_when_declared_and_warn_otherwise():
    report = check_quality(frame(n=20), spec(min_rows=100), ["x"])
    assert report.failed == ["gates.min_rows = 100; the data have 20 rows"]
    few = check_quality(frame(n=40), spec(), ["x"])
    assert few.success and few.warnings == ["gates.min_rows = 50 (default, not declared: a warning); the data have 40 rows"]
