"""The usual mess handled visibly: every action on the data recorded, every refusal names its key."""

import numpy as np
import pandas as pd
import pytest

from tasks.data.prepare import prepare_data
from whyflow.errors import DataError
from whyflow.spec import AnalysisSpec


def spec(tmp_path, **changes) -> AnalysisSpec:
    return AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.csv"}, treatment="got_promo", outcome="spend",
                        confounders=["age", "region", "signup", "flat", "age_copy"], **changes)


def messy(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    age = rng.integers(18, 80, n).astype(float)
    frame = pd.DataFrame({"got_promo": rng.choice(["yes", "no"], n), "spend": rng.normal(size=n), "age": age,
                          "region": rng.choice([f"r{i}" for i in range(60)], n),
                          "signup": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), "D"),
                          "flat": 1.0, "age_copy": age * 2 + 1})
    frame.loc[:9, "spend"] = np.nan
    frame.loc[10:19, "age"] = np.nan
    return frame


def test_a_messy_frame_is_prepared_and_every_action_is_listed(tmp_path):
    s = spec(tmp_path, treatment_values={"yes": 1, "no": 0}, missing={"outcome": "drop"}, dates="expand")
    frame, done = prepare_data(messy(), s, s.confounders)
    assert set(frame.got_promo.unique()) <= {0.0, 1.0} and len(frame) == done.rows_out == 280 and done.rows_in == 300
    assert done.dropped_rows == {"outcome 'spend' missing": 10, "a covariate missing (age)": 10}
    assert done.unused_columns["flat"] == "constant: it cannot confound"
    assert done.unused_columns["age_copy"].startswith("a near-duplicate of 'age'")
    assert frame.signup.min() == 0 and frame.signup.dtype == float
    assert any("date column 'signup' expanded to days since 2024-01" in a for a in done.actions)
    assert done.warnings == ["covariate 'region' has 60 levels: it enters as 59 fixed effects (overlap is judged "
                             "within its levels)"]


def test_impute_fills_with_the_median_and_adds_an_indicator(tmp_path):
    s = spec(tmp_path, treatment_values={"yes": 1, "no": 0}, missing={"outcome": "drop", "covariates": "impute"},
             dates="expand")
    frame, done = prepare_data(messy(), s, ["age"])
    assert frame.age.notna().all() and frame.age_missing.sum() == 10 and len(frame) == 290
    assert any("imputed with" in a and "indicator age_missing added" in a for a in done.actions)


@pytest.mark.parametrize("changes, message", [
    ({"treatment_values": {"yes": 1}}, "treatment column 'got_promo' has value(s) ['no'] that treatment_values does "
                                       "not map; it maps ['yes']"),
    ({"treatment_values": {"yes": 1, "no": 0}}, "column(s) ['signup'] hold dates; set dates: expand"),
    ({"treatment_values": {"yes": 1, "no": 0}, "dates": "expand", "missing": {"covariates": "error"}},
     "covariate(s) with missing values {'age': 10}; set missing: {covariates: drop}"),
])
def test_refusals_name_the_key_that_fixes_them(tmp_path, changes, message):
    s = spec(tmp_path, **changes)
    with pytest.raises(DataError) as caught:
        prepare_data(messy(), s, s.confounders)
    assert message in str(caught.value) and "\n" not in str(caught.value)
