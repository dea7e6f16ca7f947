"""Shapley attribution of B - A (tasks/compare/shapley.py) against a manual permutation average."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tasks.compare.shapley import FACTORS, attribute, first_order, pairwise, sequential, shapley_shares, subset_label

SUBSETS = [frozenset(c) for n in range(5) for c in itertools.combinations(FACTORS, n)]


def game(fn) -> dict[frozenset, float]:
    return {s: float(fn(s)) for s in SUBSETS}


def manual_shapley(values: dict[frozenset, float]) -> dict[str, float]:
    """Reference: the average marginal contribution over all 24 orders of swapping the factors."""
    totals = dict.fromkeys(FACTORS, 0.0)
    orders = list(itertools.permutations(FACTORS))
    for order in orders:
        taken = frozenset()
        for factor in order:
            totals[factor] += values[taken | {factor}] - values[taken]
            taken = taken | {factor}
    return {f: t / len(orders) for f, t in totals.items()}


@pytest.mark.parametrize("seed", range(20))
def test_random_games_match_the_permutation_average_and_sum_to_b_minus_a(seed):
    rng = np.random.default_rng(seed)
    values = {s: float(rng.normal(50, 10)) for s in SUBSETS}
    shares = shapley_shares(values)
    reference = manual_shapley(values)
    assert all(math.isclose(shares[f], reference[f], rel_tol=1e-12, abs_tol=1e-12) for f in FACTORS)
    b_minus_a = values[frozenset(FACTORS)] - values[frozenset()]
    assert abs(math.fsum(shares.values()) - b_minus_a) < 1e-12


def test_symmetric_factors_get_equal_shares_and_a_factor_without_effect_gets_zero():
    # data and graph enter symmetrically (with an interaction), params a little, code not at all
    values = game(lambda s: 40 + 5 * len(s & {"data", "graph"}) + 3 * ({"data", "graph"} <= s) + 0.5 * ("params" in s))
    result = attribute(values)
    assert result.method == "shapley"
    assert result.shares["data"] == result.shares["graph"] == 6.5  # 5 + half of the interaction 3
    assert result.shares["code"] == 0.0 and result.shares["params"] == 0.5
    assert result.first_order == {"data": 5.0, "graph": 5.0, "params": 0.5, "code": 0.0}
    assert result.residual_interaction == 3.0 and result.pairwise["data:graph"] == 3.0
    assert result.pairwise["params:code"] == 0.0


def test_an_additive_game_has_no_interaction():
    effect = {"data": -4.0, "graph": 10.0, "params": 0.25, "code": 1.0}
    values = game(lambda s: 50 + sum(effect[f] for f in s))
    result = attribute(values)
    assert result.shares == pytest.approx(effect, abs=1e-12)
    assert result.residual_interaction == pytest.approx(0.0, abs=1e-12)
    assert result.change == pytest.approx(sum(effect.values()))


def test_sequential_fallback_in_the_stated_order_when_a_combination_failed():
    values: dict = game(lambda s: 10 + 2 * ("data" in s) + 7 * ("graph" in s) + ("data" in s) * ("code" in s))
    values[frozenset({"graph", "code"})] = None  # A's params with B's code could not run, say
    result = attribute(values)
    assert result.method == "sequential" and result.order == ["data", "graph", "params", "code"]
    assert result.missing == ["graph+code"] and "graph+code" in result.note
    assert "data -> graph -> params -> code" in result.note
    assert result.shares == sequential({s: v for s, v in values.items() if v is not None}, tuple(FACTORS))
    assert result.shares == {"data": 2.0, "graph": 7.0, "params": 0.0, "code": 1.0}
    assert math.fsum(result.shares.values()) == result.b - result.a


def test_sequential_fallback_takes_another_order_when_the_stated_path_failed():
    values: dict = game(lambda s: 1.0 + len(s))
    values[frozenset({"data"})] = None
    result = attribute(values)
    assert result.method == "sequential" and result.order[0] != "data"
    assert "was not replayable" in result.note and sum(result.shares.values()) == 4.0


def test_corners_are_required():
    values: dict = game(lambda s: len(s))
    values[frozenset()] = None
    with pytest.raises(ValueError, match="corners"):
        attribute(values)


def test_definitions_of_first_order_and_pairwise():
    values = game(lambda s: 3 * ("data" in s) * ("params" in s) + ("code" in s))
    assert first_order(values) == {"data": 0.0, "graph": 0.0, "params": 0.0, "code": 1.0}
    assert pairwise(values)["data:params"] == 3.0
    assert subset_label(frozenset()) == "A" and subset_label(frozenset(FACTORS)) == "B"
    assert subset_label(frozenset({"code", "data"})) == "data+code"
