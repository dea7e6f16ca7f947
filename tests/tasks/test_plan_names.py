import pytest

from tasks.plan import preflight
from whyflow.errors import SpecError
from whyflow.spec import AnalysisSpec


def test_unknown_estimator_suggests_the_closest_name():
    spec = AnalysisSpec(name="a", base_dir=".", data={"path": "d.csv"}, treatment="t", outcome="y",
                        confounders=["x"], estimators=["linear_regresion"])
    with pytest.raises(SpecError) as err:
        preflight(spec)
    assert str(err.value).startswith("analysis 'a': unknown estimator 'linear_regresion' in 'estimators'; "
                                     "did you mean 'linear_regression'? expected one of [")
