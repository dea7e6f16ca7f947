"""The decision on streamed data: a rule by segment and its value from the streamed doubly robust scores.

Whom to treat (spec `decision`): the levels of one categorical decision feature (the first of
decision.features that the run segments by, else the first segment) whose AIPW effect, in the
cost's currency (value_per_outcome x effect), exceeds the cost per unit; under a budget, the levels
with the largest net gain per unit while their units fit in budget_share. The rule's value (mean net
gain per unit over treating no one) is sum_h share_h x treat_h x (value x tau_h - cost), tau_h the
level's AIPW estimate from the per-level sums of the streamed doubly robust scores; its standard
error combines the levels' own (independent units). The rule is chosen on the same scores it is
valued with (the in-memory decision layer cross-fits the choice): a level near the cost line can be
chosen by noise, which the interval does not include. policy.parquet holds the rule per level (it maps
every row through its level), not one row per unit: at this scale that file would be the size of the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from estimators.base import normal_inference

__all__ = ["StreamedDecision", "decide_streamed", "decision_feature"]


def _interval(estimate: float, se: float) -> dict:
    inference = normal_inference(estimate, se)
    return {"estimate": float(estimate), "ci_low": inference["ci_low"], "ci_high": inference["ci_high"],
            "std_error": float(se)}


def decision_feature(spec) -> str | None:
    """The categorical feature the streamed rule is made of (None: the decision needs one)."""
    if spec.decision is None:
        return None
    grouped = [*spec.segments, *spec.categorical]
    for feature in spec.decision.features or spec.effect_modifiers:
        if feature in grouped:
            return feature
    return spec.segments[0] if spec.segments else None


@dataclass
class StreamedDecision:
    """decision.json's fields (tasks/decide/policy.DecisionReport's names) for a rule by segment."""

    payload: dict
    frame: pd.DataFrame = field(repr=False)

    @property
    def report(self) -> StreamedDecision:  # the record step asks the decision for its report's policy frame
        return self

    def policy_frame(self) -> pd.DataFrame:
        return self.frame

    def write_plots(self, directory, *, outcome: str = "effect") -> list:
        return []

    def to_json(self) -> dict:
        return dict(self.payload)

    def metrics(self) -> dict[str, float]:
        return {"decision.value": self.payload["value"]["estimate"], "decision.roi": self.payload["roi"],
                "decision.share_treated": self.payload["share_treated"]}


def decide_streamed(spec, aipw: dict, n: int, ate: float, ate_se: float) -> StreamedDecision | None:
    """The rule by segment from the streamed AIPW estimate's per-level rows (result['aipw']['segments'])."""
    feature = decision_feature(spec)
    if spec.decision is None or feature is None or feature not in aipw.get("segments", {}):
        return None
    d = spec.decision
    rows = [r for r in aipw["segments"][feature] if r["n"] > 0]
    total = sum(r["n"] for r in rows)
    levels = []
    for r in rows:
        share = r["n"] / total
        net = d.value_per_outcome * r["cate"] - d.cost
        levels.append({"level": r["segment"], "share": share, "n": int(r["n"]), "cate": r["cate"],
                       "cate_std_error": r["std_error"], "net_gain_per_unit": net})
    chosen, used = set(), 0.0
    for row in sorted(levels, key=lambda x: -x["net_gain_per_unit"]):
        if row["net_gain_per_unit"] <= 0:
            break
        if d.budget_share is not None and used + row["share"] > d.budget_share + 1e-12:
            continue
        chosen.add(row["level"])
        used += row["share"]
    for row in levels:
        row["treat"] = row["level"] in chosen
    value = sum(r["share"] * r["net_gain_per_unit"] for r in levels if r["treat"])
    value_se = math.sqrt(sum((r["share"] * d.value_per_outcome * r["cate_std_error"]) ** 2 for r in levels
                             if r["treat"]))
    gap_se = math.sqrt(sum((r["share"] * d.value_per_outcome * r["cate_std_error"]) ** 2 for r in levels
                           if not r["treat"]))
    treat_all = d.value_per_outcome * ate - d.cost
    incremental = sum(r["share"] * r["cate"] for r in levels if r["treat"])
    incremental_se = math.sqrt(sum((r["share"] * r["cate_std_error"]) ** 2 for r in levels if r["treat"]))
    n_treated = int(round(used * n))
    total_cost = d.cost * n_treated
    roi = d.value_per_outcome * incremental * n / total_cost if total_cost > 0 else None
    names = sorted(chosen)
    recommendation = (f"Treat {feature} in {{{', '.join(names)}}} ({used:.0%} of units): net gain {value:,.2f} per "
                      f"unit over treating no one" if names else
                      f"Treat no one: no level of {feature} gains more than the cost of {d.cost:g} per unit")
    payload = {
        "value": _interval(value, value_se),
        "baselines": {"treat_all": _interval(treat_all, d.value_per_outcome * ate_se),
                      "treat_none": _interval(0.0, 0.0)},
        "vs_treat_all": _interval(value - treat_all, gap_se),
        "share_treated": used, "n": int(n), "n_treated": n_treated, "roi": roi,
        "incremental_outcome": {"per_unit": _interval(incremental, incremental_se), "total": incremental * n},
        "total_cost": total_cost, "cost": d.cost, "value_per_outcome": d.value_per_outcome,
        "budget_share": d.budget_share, "recommendation": recommendation,
        "policy": {"kind": "by level", "feature": feature, "treat": names}, "candidates": levels,
        "who_responds": None, "scores": "streamed doubly robust (AIPW) scores, summed per level",
        "notes": "value = mean net gain per unit over treating no one, 95% normal CI from the levels' AIPW standard "
                 "errors; the rule is chosen on the same scores (not cross-fitted); ROI = value_per_outcome x "
                 "incremental outcome / total cost",
        "cate_validation": {}, "model_selection": None, "cate_models_failed": {}, "streamed": True,
    }
    frame = pd.DataFrame({feature: [r["level"] for r in levels], "treat": [r["treat"] for r in levels]})
    return StreamedDecision(payload, frame)
