"""Bad input caught before any work: the data must fit the spec's roles and the graph."""

from __future__ import annotations

import pandas as pd
from pandas.api import types as ptypes

from tasks.graph.model import CausalGraph, check_graph
from whyflow.errors import DataError
from whyflow.spec import AnalysisSpec
from whyflow.suggest import closest

__all__ = ["validate_inputs", "data_problems"]


def _values(series: pd.Series, limit: int = 6) -> str:
    uniques = sorted(series.dropna().unique().tolist(), key=str)
    shown = ", ".join(repr(v) for v in uniques[:limit])
    return "{" + shown + (", ..." if len(uniques) > limit else "") + "}"


def data_problems(frame: pd.DataFrame, spec: AnalysisSpec) -> list[str]:
    """Every way the data fail the spec's roles, each naming the spec key that fixes it where one does
    (all of them at once: a user fixes them in one attempt, not one per run)."""
    if frame.empty:
        return [f"the data source {spec.data.describe()!r} has no rows"]
    problems = []
    missing = [c for c in spec.columns_needed() if c not in frame.columns]
    if missing:
        near = [f"{found!r} for {c!r}" for c in missing if (found := closest(c, frame.columns)) is not None]
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        problems.append(f"column(s) {missing} not in the data{hint}; columns are {list(frame.columns)}")
    for role, column in (("treatment", spec.treatment), ("outcome", spec.outcome)):
        if column not in frame.columns:
            continue
        series = frame[column]
        nulls = int(series.isna().sum())
        if nulls:
            fix = "missing: {outcome: drop}" if role == "outcome" else "drop those rows before the analysis"
            problems.append(f"{role} column {column!r} has {nulls} null value(s); it must have none ({fix})")
        if not ptypes.is_numeric_dtype(series):
            hint = (f"; map it with treatment_values: {{{', '.join(f'{v!r}: ...' for v in series.dropna().unique()[:2])}}}"
                    if role == "treatment" else "")
            problems.append(f"{role} column {column!r} must be numeric; got dtype {series.dtype}{hint}")
    if spec.treatment in frame.columns and ptypes.is_numeric_dtype(frame[spec.treatment]):
        treatment = frame[spec.treatment]
        if spec.treatment_type == "binary":
            values = set(pd.unique(treatment.dropna()))
            if not values <= {0, 1}:
                problems.append(f"treatment column {spec.treatment!r} must be binary (0/1); found values "
                                f"{_values(treatment)} (set treatment_type: continuous for a dose, or map the values "
                                f"with treatment_values)")
            elif len(values) < 2:
                problems.append(f"treatment column {spec.treatment!r} is constant ({_values(treatment)}); an effect "
                                "needs treated and untreated units")
        elif treatment.nunique() < 2:
            problems.append(f"treatment column {spec.treatment!r} is constant; an effect needs variation")
    if spec.outcome in frame.columns and frame[spec.outcome].nunique() < 2:
        problems.append(f"outcome column {spec.outcome!r} is constant ({_values(frame[spec.outcome])})")
    return problems


def validate_inputs(frame: pd.DataFrame, spec: AnalysisSpec, graph: CausalGraph) -> None:
    """Raise one DataError naming every problem of the data (or a GraphError for the graph)."""
    where = f"analysis '{spec.name}'"
    problems = data_problems(frame, spec)
    if not any(p.startswith("column(s)") or p.endswith("has no rows") for p in problems):
        check_graph(graph, spec, columns=list(frame.columns))  # a graph against columns that exist
    if len(problems) == 1:
        raise DataError(f"{where}: {problems[0]}")
    if problems:
        raise DataError(f"{where}: {len(problems)} problems with the data: "
                        + " ".join(f"({i}) {p};" for i, p in enumerate(problems, 1)).rstrip(";"))
