"""Mediation inputs checked once and turned into arrays: T (0/1), Y, mediators M, confounders X,
treatment-induced confounders L (categorical columns one-hot, most frequent level as reference)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from whyflow.errors import DataError

__all__ = ["MediationInputError", "MediationData", "prepare_inputs", "MIN_ROWS"]

MIN_ROWS = 50  # below this, cross-fitting leaves folds too small to fit the nuisances


class MediationInputError(DataError, ValueError):
    """Bad mediation input: a ValueError for callers, a DataError (exit 2) for the CLI."""


@dataclass(frozen=True)
class MediationData:
    t: np.ndarray
    y: np.ndarray
    m: np.ndarray  # (n, k) in the order of `mediators`
    x: np.ndarray  # (n, p) confounders, categorical ones as dummies
    l: np.ndarray  # (n, q) treatment-induced mediator-outcome confounders (empty for natural effects)
    mediators: tuple[str, ...]

    @property
    def n(self) -> int:
        return len(self.t)

    def with_mediators(self, names: Sequence[str]) -> "MediationData":
        """The same rows with a subset (or reordering) of the mediators."""
        index = [self.mediators.index(name) for name in names]
        return MediationData(self.t, self.y, self.m[:, index], self.x, self.l, tuple(names))


def _names(value, role: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if value is None:
        return []
    names = list(value)
    bad = [v for v in names if not isinstance(v, str)]
    if bad:
        raise MediationInputError(f"`{role}` must be column names (strings); got {bad[0]!r}")
    return names


def _column_block(frame: pd.DataFrame, name: str, categorical: bool) -> np.ndarray:
    series = frame[name]
    if not categorical and (ptypes.is_bool_dtype(series) or ptypes.is_numeric_dtype(series)):
        return series.to_numpy(dtype=float).reshape(-1, 1)
    text = series.astype(str)
    counts = text.value_counts()
    levels = sorted(counts.index, key=lambda level: (-counts[level], level))
    return np.column_stack([(text == level).to_numpy(dtype=float) for level in levels[1:]]
                           or [np.zeros(len(series))])


def _numeric(frame: pd.DataFrame, name: str, role: str) -> np.ndarray:
    series = frame[name]
    if not (ptypes.is_bool_dtype(series) or ptypes.is_numeric_dtype(series)):
        raise MediationInputError(f"{role} column {name!r} must be numeric; got dtype {series.dtype}")
    return series.to_numpy(dtype=float)


def prepare_inputs(frame: pd.DataFrame, *, treatment: str, outcome: str, mediators: Sequence[str],
                   confounders: Sequence[str], treatment_induced: Sequence[str] = (),
                   categorical: Sequence[str] = ()) -> MediationData:
    """Check roles and columns (one-line errors naming the problem) and build the arrays."""
    if not isinstance(frame, pd.DataFrame):
        raise MediationInputError(f"`frame` must be a pandas DataFrame; got {type(frame).__name__}")
    for role, value in (("treatment", treatment), ("outcome", outcome)):
        if not isinstance(value, str) or not value:
            raise MediationInputError(f"`{role}` must be one column name; got {value!r}")
    mediators = _names(mediators, "mediators")
    confounders = _names(confounders, "confounders")
    induced = _names(treatment_induced, "treatment_induced")
    categorical = set(_names(categorical, "categorical"))
    if not mediators:
        raise MediationInputError("`mediators` must name at least one column; got none")
    roles = {"treatment": [treatment], "outcome": [outcome], "mediators": mediators,
             "confounders": confounders, "treatment_induced": induced}
    seen: dict[str, str] = {}
    for role, names in roles.items():
        for name in names:
            if name not in frame.columns:
                raise MediationInputError(f"`{role}` column {name!r} is not in the data; columns are "
                                          f"{list(frame.columns)[:20]}")
            if name in seen:
                raise MediationInputError(f"column {name!r} must have one role; got both {seen[name]} and {role}")
            seen[name] = role
    used = list(seen)
    missing = [c for c in used if frame[c].isna().any()]
    if missing:
        raise MediationInputError(f"column {missing[0]!r} must have no missing values; got "
                                  f"{int(frame[missing[0]].isna().sum())} missing")
    if len(frame) < MIN_ROWS:
        raise MediationInputError(f"`frame` must have at least {MIN_ROWS} rows; got {len(frame)}")
    t = _numeric(frame, treatment, "treatment")
    values = set(np.unique(t).tolist())
    if not values <= {0.0, 1.0} or len(values) < 2:
        raise MediationInputError(f"treatment column {treatment!r} must be binary (0/1) with both values "
                                  f"present; got values {sorted(values)[:5]}")
    y = _numeric(frame, outcome, "outcome")
    m = np.column_stack([_numeric(frame, name, "mediator") for name in mediators])
    flat = [name for name in mediators if np.std(frame[name].to_numpy(dtype=float)) == 0]
    if flat:
        raise MediationInputError(f"mediator column {flat[0]!r} must vary; got one value")
    x_blocks = [_column_block(frame, name, name in categorical) for name in confounders]
    x = np.column_stack(x_blocks) if x_blocks else np.zeros((len(frame), 0))
    l_blocks = [_column_block(frame, name, name in categorical) for name in induced]
    l_arr = np.column_stack(l_blocks) if l_blocks else np.zeros((len(frame), 0))
    return MediationData(t=t, y=y, m=m, x=x, l=l_arr, mediators=tuple(mediators))
