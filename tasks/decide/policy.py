"""Should we roll it out, and to whom: the recommended targeting rule, valued honestly.

Candidates (tasks/decide/rules.py) are valued out of fold on the DR scores; the highest
cross-fitted value among those within the budget is recommended. Every reported number describes
the cross-fitted decisions: each row is decided by a rule fitted without it, of the candidate kind
chosen without it (on the other folds), so neither the rule nor the choice among rules saw the
row's own score. From those decisions: the value per unit with a normal 95% CI from the per-unit
contributions, the share treated, the incremental outcome, the cost and the ROI. The rule in words is
the candidate chosen on all rows, refitted on all rows, for units to come; `policy.agreement` is the
share of rows where it agrees with the cross-fitted decisions.
ROI = value_per_outcome x incremental outcome / total cost (gross return per unit spent, the
article's "1:3.2"); ROI > 1 exactly when the value is positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from estimators.base import CausalData
from tasks.decide.features import DecisionFeatures, decision_features
from tasks.decide.rules import fit_policy_tree, summarise_decisions, threshold_decisions, tree_rule_in_words
from tasks.decide.scores import DRScores, doubly_robust_scores, fold_ids
from tasks.decide.tree import EffectTree, honest_effect_tree
from tasks.decide.validate import Interval, mean_interval

__all__ = ["DecisionReport", "decide", "check_decision_inputs", "METRIC_KEYS"]

METRIC_KEYS = ("decision.value", "decision.value_ci_low", "decision.value_ci_high", "decision.roi",
               "decision.share_treated")


def check_decision_inputs(cost, value_per_outcome: float, budget_share: float | None, n: int) -> np.ndarray:
    """Validate the decision block; returns the cost per row. One-line ValueErrors naming the key."""
    costs = np.asarray(cost, dtype=float)
    if costs.ndim == 0:
        costs = np.full(n, float(costs))
    elif costs.shape != (n,):
        raise ValueError(f"`cost` must be one number or one per row ({n}); got shape {costs.shape}")
    if not np.isfinite(costs).all() or (costs < 0).any():
        bad = costs[~np.isfinite(costs) | (costs < 0)][0]
        raise ValueError(f"`cost` must be a finite number >= 0; got {bad:g}")
    if not (np.isfinite(value_per_outcome) and value_per_outcome > 0):
        raise ValueError(f"`value_per_outcome` must be a finite number > 0; got {value_per_outcome!r}")
    if budget_share is not None and not (np.isfinite(budget_share) and 0 < budget_share <= 1):
        raise ValueError(f"`budget_share` must be in (0, 1]; got {budget_share!r}")
    return costs


def _interval_json(interval: Interval) -> dict:
    return {"estimate": interval.estimate, "ci_low": interval.ci_low, "ci_high": interval.ci_high,
            "std_error": interval.std_error}


@dataclass(frozen=True)
class DecisionReport:
    """The recommended rule, its cross-fitted value against the baselines, and the per-row decisions."""

    value: Interval
    baselines: dict[str, Interval]
    vs_treat_all: Interval
    treat: np.ndarray = field(repr=False)
    incremental_outcome: Interval  # per unit of the population, in outcome units
    total_cost: float
    cost_per_unit: float
    value_per_outcome: float
    budget_share: float | None
    policy: dict
    candidates: list[dict]
    effect_tree: EffectTree | None = field(default=None, repr=False)
    # the chosen rule refitted on every row, for new units: decide(feature matrix) -> bool per row;
    # None for a thresholded CATE (it needs that CATE model refitted by the caller)
    final_rule: object | None = field(default=None, repr=False)
    scores: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.treat.size)

    @property
    def share_treated(self) -> float:
        return float(self.treat.mean())

    @property
    def roi(self) -> float | None:
        if self.total_cost <= 0:
            return None
        return float(self.value_per_outcome * self.incremental_outcome.estimate * self.n / self.total_cost)

    @property
    def recommendation(self) -> str:
        return self.describe()

    def describe(self, *, action: str = "treat", units: str = "units", outcome: str = "") -> str:
        """The rule and its value in one sentence, e.g. describe(action="send the coupon to",
        units="users", outcome="GMV") -> "send the coupon to users with member_level in {SVIP, VIP}:
        26% of users, net gain +3.9 GMV per user [2.8, 5.1], ROI 1.30"."""
        rule = self.policy["rule"].replace("treat no one", f"{action} no {units}").replace(
            "treat everyone", f"{action} all {units}").replace("treat units", f"{action} {units}")
        unit = units[:-1] if units.endswith("s") else units
        amount = f"{self.value.estimate:+.4g}{' ' + outcome if outcome else ''}"
        gain = f"net gain {amount} per {unit} [{self.value.ci_low:.4g}, {self.value.ci_high:.4g}]"
        roi = "" if self.roi is None else f", ROI {self.roi:.2f}"
        return f"{rule}: {self.share_treated:.0%} of {units}, {gain}{roi}"

    def policy_frame(self) -> pd.DataFrame:
        """The rows of policy.parquet: 0-based row of the analysed data and whether to treat it."""
        return pd.DataFrame({"row": np.arange(self.n, dtype=np.int64), "treat": self.treat.astype(bool)})

    def metrics(self) -> dict[str, float]:
        values = (self.value.estimate, self.value.ci_low, self.value.ci_high,
                  float("nan") if self.roi is None else self.roi, self.share_treated)
        return dict(zip(METRIC_KEYS, (float(v) for v in values)))

    def to_json(self) -> dict:
        return {
            "value": _interval_json(self.value),
            "baselines": {k: _interval_json(v) for k, v in self.baselines.items()},
            "vs_treat_all": _interval_json(self.vs_treat_all),
            "share_treated": self.share_treated, "n": self.n, "n_treated": int(self.treat.sum()),
            "roi": self.roi,
            "incremental_outcome": {"per_unit": _interval_json(self.incremental_outcome),
                                    "total": self.incremental_outcome.estimate * self.n},
            "total_cost": self.total_cost, "cost": self.cost_per_unit, "value_per_outcome": self.value_per_outcome,
            "budget_share": self.budget_share, "recommendation": self.recommendation,
            "policy": self.policy, "candidates": self.candidates,
            "who_responds": None if self.effect_tree is None else self.effect_tree.to_json(),
            "scores": self.scores,
            "notes": "value = mean net gain per unit over treating no one, cross-fitted decisions, 95% normal CI; "
                     "ROI = value_per_outcome x incremental outcome / total cost",
        }


def _resolve(frame_or_data, scores, features, categorical, folds, seed, nuisance):
    """Scores (computed from a CausalData when not given) and the decision features (None: no tree)."""
    if scores is None:
        if not isinstance(frame_or_data, CausalData):
            raise ValueError("`scores` must be given when deciding from a frame; got None")
        scores = doubly_robust_scores(frame_or_data, folds=folds, seed=seed, nuisance=nuisance)
    if not isinstance(scores, DRScores):
        raise ValueError(f"`scores` must be a DRScores (tasks.decide.doubly_robust_scores); got {type(scores).__name__}")
    wants_tree = features or (features is None and isinstance(frame_or_data, CausalData) and frame_or_data.x_names)
    found = decision_features(frame_or_data, features, categorical=categorical) if wants_tree else None
    if found is not None and found.matrix.shape[0] != scores.n:
        raise ValueError(f"`frame_or_data` must have one row per score ({scores.n}); got {found.matrix.shape[0]}")
    return scores, found


def _best_candidate(candidates: dict[str, np.ndarray], net: np.ndarray, rows: np.ndarray, limit: float) -> str:
    """Highest mean net gain on rows among candidates within the budget; ties go to the earlier (simpler) one."""
    values = {name: float((net[rows] * treat[rows]).mean()) for name, treat in candidates.items()
              if treat[rows].mean() <= limit}
    return max(values, key=values.get)


def _cross_fitted_tree(found: DecisionFeatures, net: np.ndarray, labels: np.ndarray, *, depth: int,
                       budget_share: float | None, seed: int) -> np.ndarray:
    decisions = np.zeros(net.size, dtype=bool)
    for k in np.unique(labels):
        train = labels != k
        rule = fit_policy_tree(found.matrix[train], net[train], depth=depth, budget_share=budget_share,
                               min_leaf_share=0.02, seed=seed)
        decisions[~train] = rule.decide(found.matrix[~train])
    return decisions


def decide(frame_or_data: pd.DataFrame | CausalData, *, cate_oof: dict[str, np.ndarray] | None = None,
           scores: DRScores | None = None, cost: float | np.ndarray = 0.0, value_per_outcome: float = 1.0,
           budget_share: float | None = None, features: list[str] | None = None, categorical: list[str] = (),
           max_depth: int = 2, folds: int = 5, seed: int = 0, nuisance: str | tuple[str, str] = "linear"
           ) -> DecisionReport:
    """Recommend a targeting rule: highest cross-fitted net value within the budget; see the module notes."""
    if isinstance(scores, DRScores):
        n = scores.n
    else:
        n = frame_or_data.n if isinstance(frame_or_data, CausalData) else len(frame_or_data)
    costs = check_decision_inputs(cost, value_per_outcome, budget_share, n)
    if not (isinstance(max_depth, int) and 1 <= max_depth <= 3):
        raise ValueError(f"`max_depth` must be 1, 2 or 3; got {max_depth!r}")
    if not (isinstance(folds, int) and 2 <= folds <= 20):
        raise ValueError(f"`folds` must be an integer in [2, 20]; got {folds!r}")
    tree_seed, fold_seed, effect_seed = (int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(3))
    scores, found = _resolve(frame_or_data, scores, features, categorical, folds, seed, nuisance)
    net = value_per_outcome * scores.gamma - costs
    candidates: dict[str, np.ndarray] = {"treat no one": np.zeros(n, dtype=bool), "treat everyone": np.ones(n, dtype=bool)}
    labels = fold_ids(n, folds, fold_seed)
    if found is not None:
        candidates["policy tree"] = _cross_fitted_tree(found, net, labels, depth=max_depth,
                                                       budget_share=budget_share, seed=tree_seed)
    for name, tau in (cate_oof or {}).items():
        tau = np.asarray(tau, dtype=float).ravel()
        if tau.size != n or not np.isfinite(tau).all():
            raise ValueError(f"`cate_oof[{name!r}]` must hold {n} finite values; got {tau.size}")
        candidates[f"CATE threshold: {name}"] = threshold_decisions(tau, cost=costs, value_per_outcome=value_per_outcome,
                                                                    budget_share=budget_share)
    # a held-out fold can tip a budget-fitted tree slightly over; 1 point of slack, stated in the table
    limit = 1.0 if budget_share is None else budget_share + 0.01
    table = []
    for name, treat in candidates.items():
        interval = mean_interval(net * treat) if treat.any() else Interval(0.0, 0.0)
        table.append({"rule": name, "value": interval.estimate, "ci_low": interval.ci_low, "ci_high": interval.ci_high,
                      "share_treated": float(treat.mean()), "within_budget": bool(treat.mean() <= limit)})
    chosen = _best_candidate(candidates, net, np.ones(n, dtype=bool), limit)
    # Each fold's rows take the candidate chosen on the other folds: a candidate that only looks best
    # because of these rows' own noise is not what decides them, so the value keeps its CI (winner's curse).
    treat, by_fold = np.zeros(n, dtype=bool), []
    for k in range(folds):
        held_out = labels == k
        by_fold.append(_best_candidate(candidates, net, ~held_out, limit))
        treat[held_out] = candidates[by_fold[-1]][held_out]
    policy, final_rule = _final_rule(chosen, found, net, costs, value_per_outcome, budget_share, max_depth,
                                     tree_seed, treat)
    policy["chosen_by_fold"] = by_fold
    incremental = mean_interval(scores.gamma * treat) if treat.any() else Interval(0.0, 0.0)
    who = None if found is None else honest_effect_tree(found, scores, max_depth=max_depth, seed=effect_seed)
    return DecisionReport(
        value=mean_interval(net * treat) if treat.any() else Interval(0.0, 0.0),
        baselines={"treat_all": mean_interval(net), "treat_none": Interval(0.0, 0.0)},
        vs_treat_all=mean_interval(net * (treat.astype(float) - 1.0)),
        treat=treat, incremental_outcome=incremental, total_cost=float((costs * treat).sum()),
        cost_per_unit=float(costs.mean()), value_per_outcome=float(value_per_outcome), budget_share=budget_share,
        policy=policy, candidates=table, effect_tree=who, final_rule=final_rule, scores=scores.to_json())


class _ConstantRule:
    def __init__(self, treat: bool):
        self.treat = treat

    def decide(self, matrix: np.ndarray) -> np.ndarray:
        return np.full(len(matrix), self.treat)


def _final_rule(chosen: str, found, net, costs, value_per_outcome, budget_share, depth, seed, treat
                ) -> tuple[dict, object | None]:
    """The chosen candidate as a rule for units to come, in words, refitted on every row."""
    out = {"kind": chosen, "chosen_by": "highest cross-fitted value within the budget (per fold: on the other folds)",
           "max_depth": depth,
           "features": None if found is None else found.names, "agreement": 1.0}
    if chosen in ("treat no one", "treat everyone"):
        out["rule"] = chosen
        return out, _ConstantRule(chosen == "treat everyone")
    if chosen == "policy tree":
        rule = fit_policy_tree(found.matrix, net, depth=depth, budget_share=budget_share, min_leaf_share=0.02, seed=seed)
        groups = tree_rule_in_words(rule.tree, found)
        final = rule.decide(found.matrix)
        out.update(rule=("treat units with " + " or ".join(f"({g})" if len(groups) > 1 else g for g in groups))
                   if groups and "all units" not in groups else ("treat everyone" if groups else "treat no one"),
                   groups=groups, shadow_price=rule.shadow_price, share_treated_by_rule=float(final.mean()),
                   agreement=float((final == treat).mean()))
        return out, rule
    model = chosen.split(": ", 1)[1]
    threshold = float(np.mean(costs)) / value_per_outcome
    out["rule"] = f"treat units whose {model} CATE exceeds {threshold:.4g}" + (
        f", best effect per cost first, at most {budget_share:.0%}" if budget_share is not None else "")
    out["model"] = model
    if found is not None:
        summary = summarise_decisions(treat, found, depth=depth, seed=seed)
        out["in_short"] = summary
        if summary["groups"] and summary["fidelity"] >= 0.9:
            out["rule"] += f" (in short: {' or '.join(summary['groups'])}; {summary['fidelity']:.0%} of rows alike)"
    return out, None
