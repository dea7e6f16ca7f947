"""The usual mess, handled visibly: what whyflow does to the data before estimating, all of it recorded.

Applied to the snapshot (which keeps the data as delivered), so a reproduction prepares the same rows
the same way. Every action is listed in the CLI summary, the report's data section and quality.json:
- `treatment_values: {"yes": 1, "no": 0}` maps a labelled treatment to 0/1 (values are matched as text);
- `missing: {outcome: error|drop, covariates: error|drop|impute}`: rows without the outcome are an
  error (the default) or dropped; rows missing a covariate are dropped (the default), refused, or the
  covariate is imputed with its median (numeric) or its most frequent level, with an indicator column
  `<name>_missing` added to the data for the user to adjust for;
- `dates: error|expand`: a date column among the covariates is refused (the default), or replaced by
  the number of days since its earliest date;
- constant covariates (they cannot confound) are left out of the adjustment, and so is the second of
  two covariates that are near-duplicates (|correlation| > 0.999);
- a categorical covariate with more than HIGH_CARDINALITY levels is kept (fixed effects) and warned about.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

import pandas as pd
from pandas.api import types as ptypes

from whyflow.errors import DataError
from whyflow.spec import AnalysisSpec

__all__ = ["Preparation", "prepare_data", "HIGH_CARDINALITY", "NEAR_DUPLICATE"]

log = logging.getLogger(__name__)
HIGH_CARDINALITY = 50
NEAR_DUPLICATE = 0.999


@dataclass(frozen=True)
class Preparation:
    rows_in: int
    rows_out: int
    actions: list[str] = field(default_factory=list)  # what was done, in words
    dropped_rows: dict[str, int] = field(default_factory=dict)  # reason -> rows
    unused_columns: dict[str, str] = field(default_factory=dict)  # covariate left out of the adjustment -> why
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def _map_treatment(frame: pd.DataFrame, spec: AnalysisSpec, actions: list[str]) -> pd.DataFrame:
    mapping = {str(k): v for k, v in (spec.treatment_values or {}).items()}
    if not mapping or spec.treatment not in frame.columns:
        return frame
    labels = frame[spec.treatment].astype(str).where(frame[spec.treatment].notna())
    unknown = sorted(set(labels.dropna()) - set(mapping))
    if unknown:
        raise DataError(f"analysis '{spec.name}': treatment column {spec.treatment!r} has value(s) {unknown[:6]} "
                        f"that treatment_values does not map; it maps {sorted(mapping)}")
    actions.append(f"treatment {spec.treatment!r} mapped by treatment_values {mapping}")
    return frame.assign(**{spec.treatment: labels.map(mapping).astype(float)})


def _is_date(series: pd.Series) -> bool:
    if ptypes.is_datetime64_any_dtype(series):
        return True
    if series.dtype == object or ptypes.is_string_dtype(series):
        sample = series.dropna().astype(str).head(200)
        return len(sample) > 0 and bool(sample.str.match(r"^\d{4}-\d{2}-\d{2}").mean() > 0.95)
    return False


def _dates(frame: pd.DataFrame, spec: AnalysisSpec, covariates: list[str], actions: list[str]) -> pd.DataFrame:
    found = [c for c in covariates if _is_date(frame[c])]
    if found and spec.dates == "error":
        raise DataError(f"analysis '{spec.name}': column(s) {found} hold dates; set dates: expand to use them as "
                        "days since their earliest date, or leave them out of the roles")
    for column in found:
        days = pd.to_datetime(frame[column], errors="coerce")
        frame = frame.assign(**{column: (days - days.min()).dt.days.astype(float)})
        actions.append(f"date column {column!r} expanded to days since {days.min().date()}")
    return frame


def _missing(frame: pd.DataFrame, spec: AnalysisSpec, covariates: list[str], actions: list[str],
             dropped: dict[str, int]) -> pd.DataFrame:
    policy = spec.missing
    outcome_nulls = frame[spec.outcome].isna() if spec.outcome in frame.columns else pd.Series(False, frame.index)
    if outcome_nulls.any() and policy.outcome == "drop":
        dropped[f"outcome {spec.outcome!r} missing"] = int(outcome_nulls.sum())
        frame = frame.loc[~outcome_nulls]
    holes = [c for c in covariates if frame[c].isna().any()]
    if holes and policy.covariates == "error":
        counts = {c: int(frame[c].isna().sum()) for c in holes}
        raise DataError(f"analysis '{spec.name}': covariate(s) with missing values {counts}; set missing: "
                        "{covariates: drop} or {covariates: impute}")
    if holes and policy.covariates == "impute":
        for column in holes:
            series = frame[column]
            fill = series.median() if ptypes.is_numeric_dtype(series) else series.mode().iloc[0]
            frame = frame.assign(**{column: series.fillna(fill), f"{column}_missing": series.isna().astype(float)})
            actions.append(f"covariate {column!r}: {int(series.isna().sum())} missing value(s) imputed with {fill!r}; "
                           f"indicator {column}_missing added")
    elif holes:
        rows = frame[holes].isna().any(axis=1)
        dropped["a covariate missing (" + ", ".join(holes) + ")"] = int(rows.sum())
        frame = frame.loc[~rows]
    return frame


def _unused(frame: pd.DataFrame, covariates: list[str], unused: dict[str, str]) -> None:
    numeric = [c for c in covariates if ptypes.is_numeric_dtype(frame[c]) and not ptypes.is_bool_dtype(frame[c])]
    for column in covariates:
        if frame[column].nunique(dropna=True) <= 1:
            unused[column] = "constant: it cannot confound"
    kept = [c for c in numeric if c not in unused]
    if len(kept) > 1:
        corr = frame[kept].corr().abs().to_numpy()
        for j in range(len(kept)):
            for i in range(j):
                if kept[i] not in unused and kept[j] not in unused and corr[i, j] > NEAR_DUPLICATE:
                    unused[kept[j]] = f"a near-duplicate of {kept[i]!r} (|correlation| {corr[i, j]:.4f})"


def prepare_data(frame: pd.DataFrame, spec: AnalysisSpec, covariates: list[str]) -> tuple[pd.DataFrame, Preparation]:
    """The analysed frame (rows renumbered from 0) and what was done to it; `covariates` are the
    columns the analysis adjusts for or conditions on (the plan's)."""
    actions, dropped, unused, warned = [], {}, {}, []
    rows_in = len(frame)
    frame = _map_treatment(frame, spec, actions)
    covariates = [c for c in dict.fromkeys(covariates) if c in frame.columns]
    frame = _dates(frame, spec, covariates, actions)
    frame = _missing(frame, spec, covariates, actions, dropped)
    _unused(frame, covariates, unused)
    for column in covariates:
        levels = frame[column].nunique()
        categorical = column in spec.categorical or not ptypes.is_numeric_dtype(frame[column])
        if categorical and levels > HIGH_CARDINALITY:
            warned.append(f"covariate {column!r} has {levels} levels: it enters as {levels - 1} fixed effects "
                          "(overlap is judged within its levels)")
    for reason, count in dropped.items():
        actions.append(f"{count} row(s) dropped: {reason}")
    for column, why in unused.items():
        actions.append(f"covariate {column!r} left out of the adjustment: {why}")
    preparation = Preparation(rows_in, len(frame), actions, dropped, unused, warned)
    if actions or warned:
        log.info("data preparation: %s", "; ".join(actions + warned))
    return frame.reset_index(drop=True), preparation
