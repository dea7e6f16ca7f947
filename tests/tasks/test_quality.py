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


def test_covariate_nulls_beyond_the_gate_fail_and_are_named():
    report = check_quality(frame(x_nulls=10), spec(max_null_fraction=0.02), ["x"])
    assert not report.success
    assert report.failed == ["expect_column_values_to_not_be_null[x] (5.00% unexpected)"]
    assert report.null_fractions["x"] == 0.05


def test_covariate_nulls_within_the_gate_pass():
    assert check_quality(frame(x_nulls=10), spec(max_null_fraction=0.06), ["x"]).success


def test_too_few_rows_fail():
    report = check_quality(frame(n=20), spec(min_rows=100), ["x"])
    assert any(f.startswith("expect_table_row_count_to_be_between") for f in report.failed)
