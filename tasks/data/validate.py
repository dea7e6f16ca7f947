"""Bad input caught before any work: the data must fit the spec's roles and the graph."""

from __future__ import annotations

import pandas as pd
from pandas.api import types as ptypes

from tasks.graph.model import CausalGraph, check_graph
from whyflow.errors import DataError
from whyflow.spec import AnalysisSpec

__all__ = ["validate_inputs"]


def _values(series: pd.Series, limit: int = 6) -> str:
    uniques = sorted(series.dropna().unique().tolist(), key=str)
    shown = ", ".join(repr(v) for v in uniques[:limit])
    return "{" + shown + (", ..." if len(uniques) > limit else "") + "}"


def validate_inputs(frame: pd.DataFrame, spec: AnalysisSpec, graph: CausalGraph) -> None:
    """Raise one clear DataError/GraphError when the data cannot support the analysis."""
    where = f"analysis '{spec.name}'"
    if frame.empty:
        raise DataError(f"{where}: the data source {spec.data.describe()!r} has no rows")
    missing = [c for c in spec.columns_needed() if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: column(s) {missing} not in the data; columns are {list(frame.columns)}")
    check_graph(graph, spec, columns=list(frame.columns))

    treatment, outcome = frame[spec.treatment], frame[spec.outcome]
    for role, series in (("treatment", treatment), ("outcome", outcome)):
        nulls = int(series.isna().sum())
        if nulls:
            raise DataError(f"{where}: {role} column {series.name!r} has {nulls} null value(s); it must have none")
        if not ptypes.is_numeric_dtype(series):
            raise DataError(f"{where}: {role} column {series.name!r} must be numeric; got dtype {series.dtype}")
    if spec.treatment_type == "binary":
        values = set(pd.unique(treatment))
        if not values <= {0, 1}:
            raise DataError(f"{where}: treatment column {spec.treatment!r} must be binary (0/1); "
                            f"found values {_values(treatment)} (set treatment_type: continuous for a dose)")
        if len(values) < 2:
            raise DataError(f"{where}: treatment column {spec.treatment!r} is constant ({_values(treatment)}); "
                            "an effect needs treated and untreated units")
    elif treatment.nunique() < 2:
        raise DataError(f"{where}: treatment column {spec.treatment!r} is constant; an effect needs variation")
    if outcome.nunique() < 2:
        raise DataError(f"{where}: outcome column {spec.outcome!r} is constant ({_values(outcome)})")
