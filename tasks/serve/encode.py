"""Raw request columns -> the matrices a run's models take, with the levels the run saw.

A categorical column is one-hot encoded exactly as `estimators.base.CausalData` did (levels as text,
sorted, the first dropped for the adjustment design) or, for a decision rule, with every level
(tasks/decide/features.py). A request naming an unknown level, missing a feature, or sending text
where a number belongs is refused with a `RequestError` that names the feature and the row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["RequestError", "ColumnCode", "FeatureEncoder", "column_codes", "records_to_columns"]


class RequestError(ValueError):
    """A request the models cannot score; the message names the field (HTTP 400/413)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _categorical(series: pd.Series, column: str, categorical: set[str]) -> bool:
    # the rule of estimators.base._design: declared, or not numeric, or boolean
    return column in categorical or not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


@dataclass(frozen=True)
class ColumnCode:
    """One raw feature: numeric, or categorical with its levels (as text, sorted) and whether the
    run's values were integers (so a request's 2.0 means level "2")."""

    name: str
    levels: tuple[str, ...] | None = None  # None: numeric
    integer_levels: bool = False

    @property
    def categorical(self) -> bool:
        return self.levels is not None

    @property
    def mlflow_type(self) -> str:
        return "string" if self.categorical else "double"


def column_codes(frame: pd.DataFrame, columns: Sequence[str], categorical: Sequence[str] = ()) -> dict[str, ColumnCode]:
    """The codes of `columns` as the run's analysed frame holds them."""
    cats, codes = set(categorical), {}
    for name in dict.fromkeys(columns):
        series = frame[name]
        if _categorical(series, name, cats):
            codes[name] = ColumnCode(name, tuple(sorted(set(series.dropna().astype(str)))),
                                     pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series))
        else:
            codes[name] = ColumnCode(name)
    return codes


def _number(value: Any, name: str, row: int) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise RequestError(f"feature {name!r} must be a number; got {value!r} (row {row})") from None
        elif value is None:
            raise RequestError(f"feature {name!r} must not be null (row {row})")
        else:
            raise RequestError(f"feature {name!r} must be a number; got {type(value).__name__} (row {row})")
    value = float(value)
    if not math.isfinite(value):
        raise RequestError(f"feature {name!r} must be a finite number; got {value!r} (row {row})")
    return value


def _level(value: Any, code: ColumnCode, row: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise RequestError(f"feature {code.name!r} must not be null (row {row})")
    if isinstance(value, (dict, list)):
        raise RequestError(f"feature {code.name!r} must be one of its levels; got {type(value).__name__} (row {row})")
    if code.integer_levels and isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value)


@dataclass(frozen=True)
class FeatureEncoder:
    """The raw features a served run needs, and how each becomes model columns."""

    codes: dict[str, ColumnCode]

    @property
    def features(self) -> list[str]:
        return list(self.codes)

    def parse(self, columns: Mapping[str, Sequence[Any]], rows: int) -> dict[str, np.ndarray]:
        """Each feature as a float array (numeric) or level-index array (categorical); refuses what
        does not fit, naming the feature, the row and, for a level, the known ones."""
        parsed = {}
        for name, code in self.codes.items():
            if name not in columns:
                raise RequestError(f"missing feature {name!r}; every row needs {', '.join(map(repr, self.features))}")
            values = columns[name]
            if code.categorical:
                index = {level: i for i, level in enumerate(code.levels)}
                out = np.empty(rows, dtype=np.int64)
                for row, value in enumerate(values):
                    level = _level(value, code, row)
                    if level not in index:
                        raise RequestError(f"feature {name!r} has unknown category {level!r} (row {row}); the run saw "
                                           f"{', '.join(code.levels)}")
                    out[row] = index[level]
            else:
                array = np.asarray(values)
                if array.dtype.kind in "fiu" and array.ndim == 1:  # the common case: no per-value checks
                    out = array.astype(float)
                    if not np.isfinite(out).all():
                        row = int(np.flatnonzero(~np.isfinite(out))[0])
                        raise RequestError(f"feature {name!r} must be a finite number, not null (row {row})")
                else:
                    out = np.fromiter((_number(v, name, row) for row, v in enumerate(values)), float, rows)
            parsed[name] = out
        return parsed

    def matrix(self, parsed: dict[str, np.ndarray], names: Sequence[str], *, drop_first: bool) -> np.ndarray:
        """The model matrix over raw features `names`: numeric as is, categorical one-hot (the first
        level dropped when `drop_first`, as the adjustment design does)."""
        rows = len(next(iter(parsed.values()))) if parsed else 0
        parts = []
        for name in names:
            code, values = self.codes[name], parsed[name]
            if not code.categorical:
                parts.append(values[:, None])
                continue
            start = 1 if drop_first else 0
            onehot = np.zeros((rows, len(code.levels) - start))
            hit = values >= start
            onehot[np.flatnonzero(hit), values[hit] - start] = 1.0
            parts.append(onehot)
        return np.hstack(parts) if parts else np.empty((rows, 0))


def records_to_columns(records: Sequence[Mapping[str, Any]], features: Sequence[str]) -> dict[str, list]:
    """`dataframe_records` -> columns; a row without a feature leaves the feature out of the columns
    only when every row lacks it (so parse names it), else it is refused here naming the row."""
    columns: dict[str, list] = {}
    for name in features:
        values, missing = [], None
        for row, record in enumerate(records):
            if name in record:
                values.append(record[name])
            elif missing is None:
                missing = row
        if missing is not None:
            raise RequestError(f"missing feature {name!r} (row {missing}); every row needs "
                               f"{', '.join(map(repr, features))}")
        columns[name] = values
    return columns

