"""Who responds: the honest effect tree (tasks/decide/tree.py) and rules in words (tasks/decide/features.py)."""

import numpy as np
import pandas as pd
import pytest

from data.decision_dgps import FEATURES, graded_effect_campaign
from estimators.base import CausalData
from tasks.decide import decision_features, doubly_robust_scores, honest_effect_tree
from tasks.decide.features import describe_path


@pytest.fixture(scope="module")
def graded():
    case = graded_effect_campaign(4000, seed=31)
    return case, doubly_robust_scores(case.data, seed=31)


def test_the_tree_splits_on_the_modifier_and_orders_its_leaves(graded):
    case, scores = graded
    tree = honest_effect_tree(decision_features(case.frame, FEATURES), scores, max_depth=2, seed=1)
    assert all(row["rule"].count("x1") == 1 and "x2" not in row["rule"] for row in tree.leaves)
    effects = [row["effect"] for row in tree.leaves]
    assert effects == sorted(effects, reverse=True) and effects[0] - effects[-1] > 3
    assert tree.split_rows + tree.estimation_rows == case.data.n
    assert sum(row["n"] for row in tree.leaves) == case.data.n
    # leaf effects come from the estimation half only: close to the truth there, with a normal CI
    leaf = tree.leaf_of(decision_features(case.frame, FEATURES).matrix)
    for row in tree.leaves:
        truth = case.tau[leaf == row["leaf"]].mean()
        assert abs(row["effect"] - truth) < 4 * row["std_error"]


def test_the_tree_finds_the_member_levels():
    from data.generate import coupon_campaign

    frame, truth = coupon_campaign(rows=60_000, seed=618)
    data = CausalData.from_frame(frame, treatment="coupon_sent", outcome="gmv",
                                 adjustment=["historical_gmv", "user_activity", "purchase_frequency", "member_level"],
                                 modifiers=["member_level"], categorical=["member_level"])
    tree = honest_effect_tree(decision_features(frame, ["member_level"]), doubly_robust_scores(data, seed=1),
                              max_depth=2, seed=2)
    assert tree.leaves[0]["rule"] in ("member_level = SVIP", "member_level in {SVIP, VIP}")
    assert tree.leaves[-1]["rule"] in ("member_level = new", "member_level in {new, regular}")


def test_paths_in_words():
    frame = pd.DataFrame({"age": [20.0, 30.0, 40.0], "level": ["a", "b", "c"]})
    found = decision_features(frame, ["age", "level"])
    age, level_a, level_b = 0, found.columns.index("level=a"), found.columns.index("level=b")
    assert describe_path([(age, True, 25.0), (age, False, 35.0)], found) == "25 < age <= 35"
    assert describe_path([(level_a, False, 0.5), (level_b, False, 0.5)], found) == "level = c"
    assert describe_path([(level_a, False, 0.5)], found) == "level in {b, c}"
    assert describe_path([(level_b, True, 0.5), (age, False, 30.0)], found) == "age <= 30 and level = b"
    assert describe_path([], found) == "all units"


def test_from_a_causal_data_the_dropped_level_is_said_as_not_in():
    frame = pd.DataFrame({"y": [1.0, 2, 3, 4], "t": [0, 1, 0, 1], "level": ["a", "b", "c", "a"]})
    data = CausalData.from_frame(frame, treatment="t", outcome="y", adjustment=[], modifiers=["level"],
                                 categorical=["level"])
    found = decision_features(data)
    assert found.names == ["level"] and found.levels == {"level": None}
    assert describe_path([(0, False, 0.5)], found) == f"level not in {{{found.level[0]}}}"


def test_bad_tree_settings_are_named(graded):
    case, scores = graded
    found = decision_features(case.frame, FEATURES)
    with pytest.raises(ValueError, match="`max_depth` must be an integer in \\[1, 4\\]; got 6"):
        honest_effect_tree(found, scores, max_depth=6)
    with pytest.raises(ValueError, match="`min_leaf_share` must be in \\(0, 0.5\\); got 0.7"):
        honest_effect_tree(found, scores, min_leaf_share=0.7)


def test_a_feature_with_missing_values_is_named():
    frame = pd.DataFrame({"age": [1.0, np.nan]})
    with pytest.raises(ValueError, match="feature 'age' must have no missing values; got 1"):
        decision_features(frame, ["age"])
