import pytest

from whyflow.suggest import closest, closest_names, did_you_mean, looks_like_typo


def test_closest_ignores_case_and_gives_up_when_nothing_is_near():
    keys = ["estimators", "estimand", "estimator_options", "treatment"]
    assert closest("estimater", keys) == "estimators"
    assert closest("TREATMENT", keys) == "treatment"
    assert closest("zzz", keys) is None
    assert closest_names("estimat", keys, n=2) == ["estimators", "estimator_options"]  # names containing it first
    assert closest("forest", ["cfrnet", "causal_forest"]) == "causal_forest"


def test_did_you_mean_is_a_fragment_to_append():
    assert did_you_mean("regoin", ["region", "age"]) == "; did you mean 'region'?"
    assert did_you_mean("xyz", ["region", "age"]) == ""


@pytest.mark.parametrize("a, b, typo", [
    ("regoin", "region", True),       # neighbouring letters swapped
    ("incme", "income", True),        # a letter dropped
    ("tenure", "tenura", True),       # a letter replaced
    ("Region", "region", True),       # case only
    ("q1_sales", "q2_sales", False),  # digits name different variables
    ("score", "score2", False),
    ("visits_7d", "visits_30d", False),
    ("age", "agee", False),           # too short to tell
    ("region", "region", False),
])
def test_looks_like_typo(a, b, typo):
    assert looks_like_typo(a, b) is typo
