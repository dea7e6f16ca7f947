import numpy as np
import pandas as pd
import pytest

from tasks.graph.model import graph_from_roles
from tasks.data.validate import validate_inputs
from whyflow.errors import DataError, GraphError
from whyflow.spec import AnalysisSpec


def frame(n=50, **changes):
    rng = np.random.default_rng(0)
    data = {"t": np.tile([0, 1], n // 2), "y": rng.normal(size=n), "x": rng.normal(size=n)}
    data.update(changes)
    return pd.DataFrame(data)


SPEC = AnalysisSpec(name="a", base_dir=".", data={"path": "d.csv"}, treatment="t", outcome="y", confounders=["x"])


def check(df, spec=SPEC):
    validate_inputs(df, spec, graph_from_roles(spec))


def test_good_data_passes():
    check(frame())


@pytest.mark.parametrize("df, message", [
    (frame().iloc[:0], "has no rows"),
    (frame().drop(columns="x"), r"column\(s\) \['x'\] not in the data"),
    (frame(t=np.tile([0, 1, 2, 1, 0], 10)), r"must be binary \(0/1\); found values \{0, 1, 2\}"),
    (frame(t=np.zeros(50, dtype=int)), "is constant"),
    (frame(t=np.where(np.arange(50) == 3, np.nan, np.tile([0.0, 1.0], 25))), "treatment column 't' has 1 null"),
    (frame(y=np.where(np.arange(50) < 2, np.nan, 1.0 * np.arange(50))), "outcome column 'y' has 2 null"),
    (frame(y=["a"] * 50), "outcome column 'y' must be numeric"),
    (frame(y=np.ones(50)), "outcome column 'y' is constant"),
])
def test_bad_data_is_named(df, message):
    with pytest.raises(DataError, match=message):
        check(df)


def test_graph_node_missing_from_data_is_a_graph_error():
    spec = AnalysisSpec(name="a", base_dir=".", data={"path": "d.csv"}, treatment="t", outcome="y",
                        confounders=["x", "age"])
    with pytest.raises((GraphError, DataError), match="age"):
        check(frame(), spec)


def test_continuous_treatment_is_accepted_when_declared():
    spec = SPEC.model_copy(update={"treatment_type": "continuous"})
    check(frame(t=np.linspace(0, 5, 50)), spec)


def test_every_data_problem_is_reported_at_once_with_the_key_that_fixes_it(tmp_path):
    import pandas as pd

    from tasks.data.validate import data_problems
    from whyflow.spec import AnalysisSpec

    frame = pd.DataFrame({"got_promo": ["yes", "no"] * 50, "spend": [float(i) if i % 2 else None for i in range(100)],
                          "age": range(100)})
    spec = AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.csv"}, treatment="got_promo", outcome="spend",
                        confounders=["age", "region"])
    problems = data_problems(frame, spec)
    assert len(problems) == 3
    assert problems[0].startswith("column(s) ['region'] not in the data")
    assert "treatment column 'got_promo' must be numeric; got dtype" in problems[1]
    assert "treatment_values: {'yes': ..., 'no': ...}" in problems[1]
    assert problems[2] == "outcome column 'spend' has 50 null value(s); it must have none (missing: {outcome: drop})"


def test_missing_column_suggests_the_closest_one():
    spec = AnalysisSpec(name="a", base_dir=".", data={"path": "d.csv"}, treatment="t", outcome="y",
                        confounders=["agee"])
    with pytest.raises(DataError) as err:
        check(frame(age=np.ones(50)), spec)
    assert str(err.value) == ("analysis 'a': column(s) ['agee'] not in the data (did you mean 'age' for 'agee'?); "
                              "columns are ['t', 'y', 'x', 'age']")
