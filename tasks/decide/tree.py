"""Who responds: a shallow honest tree over the effect modifiers, each leaf with its effect and 95% CI.

Honest in the sense of Athey & Imbens (2016): a random half of the units chooses the splits (CART on
the DR scores, whose conditional mean is the CATE, so the squared-error split criterion looks for
effect heterogeneity), the other half estimates each leaf's effect as the mean of its DR scores with
a normal CI. The estimation half never influenced the partition, so the leaf CIs keep their coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.tree import DecisionTreeRegressor

from tasks.decide.features import DecisionFeatures, describe_path, tree_paths
from tasks.decide.validate import mean_interval

__all__ = ["EffectTree", "honest_effect_tree"]


@dataclass(frozen=True)
class EffectTree:
    """The partition (a fitted scikit-learn tree) and one row per leaf, estimated on the held-out half."""

    leaves: list[dict]
    tree: DecisionTreeRegressor
    features: DecisionFeatures
    split_rows: int
    estimation_rows: int

    def leaf_of(self, matrix: np.ndarray) -> np.ndarray:
        return self.tree.apply(matrix)

    def to_json(self) -> dict:
        return {"method": "honest tree: CART on DR scores of one half, leaf effects from the other half",
                "split_rows": self.split_rows, "estimation_rows": self.estimation_rows,
                "features": self.features.names, "leaves": self.leaves}


def honest_effect_tree(features: DecisionFeatures, scores, *, max_depth: int = 2, min_leaf_share: float = 0.05,
                       seed: int = 0) -> EffectTree:
    """Splits from one random half's DR scores; leaf effects and CIs from the other half's."""
    gamma = np.asarray(getattr(scores, "gamma", scores), dtype=float)
    if not (isinstance(max_depth, int) and 1 <= max_depth <= 4):
        raise ValueError(f"`max_depth` must be an integer in [1, 4]; got {max_depth!r}")
    if not 0.0 < min_leaf_share < 0.5:
        raise ValueError(f"`min_leaf_share` must be in (0, 0.5); got {min_leaf_share!r}")
    if features.matrix.shape[0] != gamma.size:
        raise ValueError(f"`features` must have one row per score ({gamma.size}); got {features.matrix.shape[0]}")
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    split_half = rng.permutation(gamma.size) < gamma.size // 2
    min_leaf = max(20, int(min_leaf_share * split_half.sum()))
    tree = DecisionTreeRegressor(max_depth=max_depth, min_samples_leaf=min_leaf,
                                 random_state=int(rng.integers(2**31 - 1)))
    tree.fit(features.matrix[split_half], gamma[split_half])
    leaf = tree.apply(features.matrix)
    leaves = []
    for node, path in sorted(tree_paths(tree.tree_).items()):
        members = leaf == node
        estimation = members & ~split_half
        effect = mean_interval(gamma[estimation]) if estimation.sum() > 1 else None
        leaves.append({"leaf": int(node), "rule": describe_path(path, features), "n": int(members.sum()),
                       "share": float(members.mean()), "estimation_n": int(estimation.sum()),
                       "effect": None if effect is None else effect.estimate,
                       "std_error": None if effect is None else effect.std_error,
                       "ci_low": None if effect is None else effect.ci_low,
                       "ci_high": None if effect is None else effect.ci_high})
    leaves.sort(key=lambda row: -(row["effect"] if row["effect"] is not None else -np.inf))
    return EffectTree(leaves, tree, features, int(split_half.sum()), int((~split_half).sum()))
