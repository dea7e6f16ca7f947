"""Columns as numeric blocks for the graph's statistics: numbers as one column, categories as dummies.

The first-stage F statistics, the conditional-independence tests and structure discovery all need
each variable as a float matrix; a categorical variable with k levels becomes k-1 dummy columns
(the most frequent level, and beyond `max_levels` the rarest ones, pooled as the reference), so it
enters a test as one block.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from whyflow.errors import DataError

__all__ = ["numeric_blocks", "complete_rows", "seeded_sample"]


def _block(series: pd.Series, max_levels: int, categorical: bool) -> np.ndarray:
    if not categorical and (ptypes.is_bool_dtype(series) or ptypes.is_numeric_dtype(series)):
        return series.to_numpy(dtype=float).reshape(-1, 1)
    if ptypes.is_datetime64_any_dtype(series):
        return series.astype("int64").to_numpy(dtype=float).reshape(-1, 1)
    text = series.astype(str)
    counts = text.value_counts()
    levels = sorted(counts.index, key=lambda level: (-counts[level], level))
    kept = levels[: max_levels - 1] if len(levels) > max_levels else levels
    return np.column_stack([(text == level).to_numpy(dtype=float) for level in kept[1:]] or
                           [np.zeros(len(series))])


def numeric_blocks(frame: pd.DataFrame, columns: list[str], max_levels: int = 20,
                   categorical: list[str] | tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Each column as an (n, k) float array (`categorical` ones as dummies even when numeric);
    constant columns come back with k = 0."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"column(s) {missing} not in the data; columns are {list(frame.columns)}")
    blocks = {}
    for column in columns:
        block = _block(frame[column], max_levels, column in categorical)
        spread = np.nanstd(block, axis=0) if len(block) else np.zeros(block.shape[1])
        blocks[column] = block[:, spread > 0]
    return blocks


def complete_rows(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The rows with no missing value in `columns` (the tests need complete cases)."""
    return frame.loc[frame[columns].notna().all(axis=1), columns]


def seeded_sample(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    """At most `rows` rows drawn without replacement with the given seed; all rows when None or fewer."""
    if rows is None or len(frame) <= rows:
        return frame
    picked = np.random.default_rng(seed).choice(len(frame), size=rows, replace=False)
    return frame.iloc[np.sort(picked)]
