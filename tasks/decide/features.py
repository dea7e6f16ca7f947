"""The features a rule or an effect tree may split on, and tree paths said in words.

Categorical features are one-hot encoded with every level (from a frame), so a path can say
"member_level in {SVIP, VIP}"; from a CausalData the first level was dropped by its design, so the
words fall back to "member_level not in {new, regular}".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from estimators.base import CausalData

__all__ = ["DecisionFeatures", "decision_features", "describe_path", "tree_paths"]


@dataclass(frozen=True)
class DecisionFeatures:
    """A numeric matrix; per column its source feature and, for a one-hot column, its level."""

    matrix: np.ndarray
    columns: list[str]
    source: list[str]
    level: list[str | None]
    levels: dict[str, list[str] | None]  # every level of a categorical feature, None when one is unknown

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(self.source))


def _from_frame(frame: pd.DataFrame, features: list[str], categorical: set[str]) -> DecisionFeatures:
    parts, columns, source, level, levels = [], [], [], [], {}
    for name in features:
        series = frame[name]
        if series.isna().any():
            raise ValueError(f"feature {name!r} must have no missing values; got {int(series.isna().sum())}")
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if numeric and name not in categorical:
            parts.append(series.to_numpy(dtype=float)[:, None])
            columns.append(name), source.append(name), level.append(None)
            continue
        values = series.astype(str).to_numpy()
        found = sorted(set(values))
        levels[name] = found
        for lvl in found:
            parts.append((values == lvl).astype(float)[:, None])
            columns.append(f"{name}={lvl}"), source.append(name), level.append(lvl)
    return DecisionFeatures(np.hstack(parts), columns, source, level, levels)


def _from_data(data: CausalData, features: list[str]) -> DecisionFeatures:
    pools = [(data.X, data.x_names), (data.covariates, data.covariate_names)]
    parts, columns, source, level, levels = [], [], [], [], {}
    for name in features:
        for matrix, names in pools:
            if name in names:
                parts.append(matrix[:, [names.index(name)]])
                columns.append(name), source.append(name), level.append(None)
                break
            dummies = [i for i, col in enumerate(names) if col.startswith(f"{name}=")]
            if dummies:
                levels[name] = None  # the design dropped one level: its name is not in the data
                for i in dummies:
                    parts.append(matrix[:, [i]])
                    columns.append(names[i]), source.append(name), level.append(names[i].split("=", 1)[1])
                break
        else:
            known = sorted({c.split("=", 1)[0] for c in [*data.x_names, *data.covariate_names]})
            raise ValueError(f"`features` must name effect modifiers or covariates of the data ({', '.join(known)}); "
                             f"got {name!r}")
    return DecisionFeatures(np.hstack(parts).astype(float), columns, source, level, levels)


def decision_features(frame_or_data: pd.DataFrame | CausalData, features: list[str] | None = None, *,
                      categorical: list[str] = ()) -> DecisionFeatures:
    """The feature matrix for rules and trees; features default to the data's effect modifiers."""
    if isinstance(frame_or_data, CausalData):
        if features is None:
            features = list(dict.fromkeys(c.split("=", 1)[0] for c in frame_or_data.x_names))
        if not features:
            raise ValueError("`features` must name at least one column; got none (and the data has no effect modifiers)")
        return _from_data(frame_or_data, list(features))
    if not isinstance(frame_or_data, pd.DataFrame):
        raise ValueError(f"`frame_or_data` must be a pandas DataFrame or a CausalData; got {type(frame_or_data).__name__}")
    if not features:
        raise ValueError("`features` must name at least one column of the frame; got none")
    missing = [f for f in features if f not in frame_or_data.columns]
    if missing:
        raise ValueError(f"`features` must name columns of the data; got unknown feature {missing[0]!r}")
    return _from_frame(frame_or_data, list(features), set(categorical))


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def describe_path(path: list[tuple[int, bool, float]], features: DecisionFeatures) -> str:
    """Words for one root-to-leaf path of (column, goes_right, threshold) steps; right means > threshold."""
    if not path:
        return "all units"
    numeric: dict[str, list[float | None]] = {}
    equal: dict[str, str] = {}
    excluded: dict[str, set[str]] = {}
    for column, right, threshold in path:
        name, lvl = features.source[column], features.level[column]
        if lvl is None:
            low, high = numeric.setdefault(name, [None, None])
            if right:
                numeric[name][0] = threshold if low is None else max(low, threshold)
            else:
                numeric[name][1] = threshold if high is None else min(high, threshold)
        elif right:
            equal[name] = lvl
        else:
            excluded.setdefault(name, set()).add(lvl)
    words = []
    for name in features.names:
        if name in numeric:
            low, high = numeric[name]
            if low is not None and high is not None:
                words.append(f"{_fmt(low)} < {name} <= {_fmt(high)}")
            else:
                words.append(f"{name} > {_fmt(low)}" if low is not None else f"{name} <= {_fmt(high)}")
        elif name in equal:
            words.append(f"{name} = {equal[name]}")
        elif name in excluded:
            known = features.levels.get(name)
            if known is not None:
                allowed = [lvl for lvl in known if lvl not in excluded[name]]
                words.append(f"{name} = {allowed[0]}" if len(allowed) == 1 else f"{name} in {{{', '.join(allowed)}}}")
            else:
                words.append(f"{name} not in {{{', '.join(sorted(excluded[name]))}}}")
    return " and ".join(words)


def tree_paths(tree_: object) -> dict[int, list[tuple[int, bool, float]]]:
    """Leaf id -> path, for a fitted scikit-learn style `tree_` (children_left/right, feature, threshold)."""
    paths, stack = {}, [(0, [])]
    while stack:
        node, path = stack.pop()
        left, right = tree_.children_left[node], tree_.children_right[node]
        if left == right:  # a leaf: both children are -1
            paths[node] = path
            continue
        feature, threshold = int(tree_.feature[node]), float(tree_.threshold[node])
        stack.append((left, [*path, (feature, False, threshold)]))
        stack.append((right, [*path, (feature, True, threshold)]))
    return paths
