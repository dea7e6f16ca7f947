"""Candidate targeting rules and their cross-fitted value.

A rule maps features to treat / do not treat. Candidates: treat no one, treat everyone, a shallow
policy tree (Athey & Wager 2021: EconML's PolicyTree maximising the sum of DR scores net of cost),
and, for each CATE model, the thresholded CATE (treat when value_per_outcome x tau_hat > cost; with
a budget, the highest effect per unit of cost first). Each candidate is valued out of fold: the
tree is fitted on K-1 folds and decides the held-out fold; the CATE predictions are out-of-fold
already. The value of a rule is mean((value_per_outcome Gamma_i - cost_i) pi(x_i)), the net gain
per unit over treating no one.
"""

from __future__ import annotations

import numpy as np

from tasks.decide.features import DecisionFeatures, describe_path

__all__ = ["PolicyTreeRule", "fit_policy_tree", "threshold_decisions", "tree_rule_in_words", "summarise_decisions"]

# bisection steps on the shadow price of the budget: 2^-20 of the range is far below any real cost
_BUDGET_STEPS = 20


class PolicyTreeRule:
    """A fitted EconML PolicyTree over the decision features, with the shadow price it was fitted at."""

    def __init__(self, tree, shadow_price: float):
        self.tree, self.shadow_price = tree, shadow_price

    def decide(self, matrix: np.ndarray) -> np.ndarray:
        return self.tree.predict(matrix).astype(bool)


def _tree(matrix: np.ndarray, net: np.ndarray, depth: int, min_leaf: int, seed: int):
    from econml.policy import PolicyTree

    # honest=False: the split half would halve the data the rule learns from; the rule is valued on
    # held-out folds instead, which is where honesty matters for a policy
    return PolicyTree(max_depth=depth, min_samples_leaf=min_leaf, honest=False, random_state=seed).fit(
        matrix, np.column_stack([np.zeros_like(net), net]))


def fit_policy_tree(matrix: np.ndarray, net: np.ndarray, *, depth: int, budget_share: float | None,
                    min_leaf_share: float, seed: int) -> PolicyTreeRule:
    """The welfare-maximising tree; under a budget, the smallest shadow price per treated unit that
    keeps the treated share within it (a Lagrangian relaxation, found by bisection)."""
    min_leaf = max(20, int(min_leaf_share * net.size))
    tree = _tree(matrix, net, depth, min_leaf, seed)
    if budget_share is None or tree.predict(matrix).mean() <= budget_share:
        return PolicyTreeRule(tree, 0.0)
    low, high = 0.0, float(np.abs(net).max()) * 2 + 1.0
    best = None
    for _ in range(_BUDGET_STEPS):
        price = (low + high) / 2
        candidate = _tree(matrix, net - price, depth, min_leaf, seed)
        if candidate.predict(matrix).mean() <= budget_share:
            high, best = price, PolicyTreeRule(candidate, price)
        else:
            low = price
    return best or PolicyTreeRule(_tree(matrix, net - high, depth, min_leaf, seed), high)


def threshold_decisions(tau: np.ndarray, *, cost: np.ndarray, value_per_outcome: float,
                        budget_share: float | None) -> np.ndarray:
    """Treat when the predicted net gain is positive; under a budget only the best effect per cost."""
    gain = value_per_outcome * tau - cost
    treat = gain > 0
    if budget_share is not None and treat.mean() > budget_share:
        per_cost = np.where(cost > 0, value_per_outcome * tau / np.where(cost > 0, cost, 1.0), np.inf)
        allowed = int(np.floor(budget_share * tau.size))
        order = np.argsort(-per_cost, kind="stable")
        chosen = np.zeros(tau.size, dtype=bool)
        chosen[order[:allowed]] = True
        treat &= chosen
    return treat


def _pure_action(tree_, node: int) -> int | None:
    """The action every leaf under node recommends, or None when they differ."""
    left, right = tree_.children_left[node], tree_.children_right[node]
    if left == right:
        return int(np.argmax(tree_.value[node].ravel()))
    a, b = _pure_action(tree_, left), _pure_action(tree_, right)
    return a if a is not None and a == b else None


def tree_rule_in_words(tree, features: DecisionFeatures) -> list[str]:
    """The groups a fitted tree (a PolicyTree, or a classifier of treat / do not treat) treats, one
    phrase each (sibling leaves with one action merged)."""
    tree_ = tree.tree_
    paths, stack = [], [(0, [])]
    while stack:
        node, path = stack.pop()
        action = _pure_action(tree_, node)
        if action is not None:
            if action == 1:
                paths.append(path)
            continue
        feature, threshold = int(tree_.feature[node]), float(tree_.threshold[node])
        stack.append((tree_.children_right[node], [*path, (feature, True, threshold)]))
        stack.append((tree_.children_left[node], [*path, (feature, False, threshold)]))
    merged = _one_categorical_set(paths, features)
    return [merged] if merged else [describe_path(path, features) for path in paths]


def _one_categorical_set(paths: list, features: DecisionFeatures) -> str | None:
    """"member_level in {SVIP, VIP}" when every treated group is a set of levels of one fully known feature."""
    sources = {features.source[column] for path in paths for column, _, _ in path}
    if len(paths) < 2 or len(sources) != 1:
        return None
    name = sources.pop()
    known = features.levels.get(name)
    if not known:
        return None
    allowed: set[str] = set()
    for path in paths:
        levels = set(known)
        for column, right, _ in path:
            levels &= {features.level[column]} if right else levels - {features.level[column]}
        allowed |= levels
    ordered = [lvl for lvl in known if lvl in allowed]
    return f"{name} = {ordered[0]}" if len(ordered) == 1 else f"{name} in {{{', '.join(ordered)}}}"


def summarise_decisions(treat: np.ndarray, features: DecisionFeatures, *, depth: int, seed: int) -> dict:
    """A shallow tree that mimics per-row decisions (a thresholded CATE), so they can be said in words;
    fidelity is the share of rows where the words and the decisions agree."""
    from sklearn.tree import DecisionTreeClassifier

    if treat.all() or not treat.any():
        return {"groups": ["all units"] if treat.all() else [], "fidelity": 1.0}
    mimic = DecisionTreeClassifier(max_depth=depth, min_samples_leaf=max(20, treat.size // 100), random_state=seed)
    mimic.fit(features.matrix, treat)
    return {"groups": tree_rule_in_words(mimic, features),
            "fidelity": float((mimic.predict(features.matrix) == treat).mean())}
