"""The streamed decision: a rule by level from the streamed AIPW per-level estimates, valued with them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tasks.scale.decision import decide_streamed
from whyflow.spec import AnalysisSpec

LEVELS = [("SVIP", 100, 78.0, 4.0), ("VIP", 300, 61.0, 3.0), ("new", 200, 45.0, 5.0), ("regular", 400, 38.0, 2.0)]


def _spec(**decision) -> AnalysisSpec:
    return AnalysisSpec(name="d", base_dir=Path("."), data={"path": "x"}, treatment="coupon_sent", outcome="gmv",
                        confounders=["member_level"], segments=["member_level"], decision=decision)


def _aipw() -> dict:
    return {"segments": {"member_level": [{"segment": s, "n": n, "cate": c, "std_error": e} for s, n, c, e in LEVELS]}}


def test_levels_whose_effect_beats_the_cost_are_treated_and_the_value_adds_up():
    decision = decide_streamed(_spec(cost=50), _aipw(), 1000, 50.0, 1.0).to_json()
    assert decision["policy"]["treat"] == ["SVIP", "VIP"] and decision["share_treated"] == pytest.approx(0.4)
    assert decision["value"]["estimate"] == pytest.approx(0.1 * 28 + 0.3 * 11)
    assert decision["value"]["std_error"] == pytest.approx(math.sqrt((0.1 * 4) ** 2 + (0.3 * 3) ** 2))
    assert decision["baselines"]["treat_all"]["estimate"] == pytest.approx(0.0)
    assert decision["roi"] == pytest.approx((0.1 * 78 + 0.3 * 61) * 1000 / (50 * 400))


def test_a_budget_keeps_the_best_levels_that_fit_and_no_gain_treats_no_one():
    budget = decide_streamed(_spec(cost=50, budget_share=0.35), _aipw(), 1000, 50.0, 1.0).to_json()
    assert budget["policy"]["treat"] == ["SVIP"]  # best gain first (10%); VIP (30% more) would pass 35%
    none = decide_streamed(_spec(cost=100), _aipw(), 1000, 50.0, 1.0).to_json()
    assert none["policy"]["treat"] == [] and none["value"]["estimate"] == 0 and none["roi"] is None
