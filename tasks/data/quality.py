"""Quality: a Great Expectations suite built from the spec, validated on the snapshot."""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import asdict, dataclass, field

import pandas as pd

from whyflow.spec import AnalysisSpec

__all__ = ["QualityReport", "check_quality", "build_expectations", "gate_message"]

log = logging.getLogger(__name__)
_NUMERIC_TYPES = ["int8", "int16", "int32", "int64", "Int64", "uint8", "uint16", "uint32", "uint64",
                  "float16", "float32", "float64", "Float64", "bool", "boolean"]


@dataclass(frozen=True)
class QualityReport:
    success: bool
    failed: list[str]  # what stops the run: data requirements, and gates the spec declared
    evaluated: int
    rows: int
    null_fractions: dict[str, float]
    validation: dict = field(repr=False)
    warnings: list[str] = field(default_factory=list)  # gates left at their default: reported, not stopping

    @property
    def reason(self) -> str:
        return "quality gate failed: " + "; ".join(self.failed)

    def to_json(self) -> dict:
        return asdict(self)


def gate_message(spec: AnalysisSpec, gate: str, observed: str) -> tuple[bool, str]:
    """(stops, message) in whyflow's words: a declared gate stops the run; a default one warns."""
    value = getattr(spec.gates, gate)
    if spec.gates.declared(gate):
        return True, f"gates.{gate} = {value}; {observed}"
    return False, f"gates.{gate} = {value} (default, not declared: a warning); {observed}"


def _gate_of(result: dict, spec: AnalysisSpec) -> tuple[str, str] | None:
    """The gate a failed expectation stands for, with what was seen; None for a data requirement."""
    config = result["expectation_config"]
    column = config.get("kwargs", {}).get("column")
    observed = result.get("result", {})
    if config["type"] == "expect_table_row_count_to_be_between":
        return "min_rows", f"the data have {observed.get('observed_value')} rows"
    if config["type"] == "expect_column_values_to_not_be_null" and column not in (spec.treatment, spec.outcome):
        share = (observed.get("unexpected_percent") or 0.0) / 100
        return "max_null_fraction", (f"column {column!r} is {share:.1%} null "
                                     f"({observed.get('unexpected_count')} rows without it are left out of the analysis)")
    return None


def build_expectations(spec: AnalysisSpec, covariates: list[str]) -> list:
    """The suite: columns present, treatment binary and complete, outcome numeric and complete,
    covariate nulls within the gate, at least the minimum row count."""
    import great_expectations as gx

    E = gx.expectations
    suite = [E.ExpectTableRowCountToBeBetween(min_value=spec.gates.min_rows)]
    for column in dict.fromkeys([spec.treatment, spec.outcome, *covariates]):
        suite.append(E.ExpectColumnToExist(column=column))
    suite.append(E.ExpectColumnValuesToNotBeNull(column=spec.treatment))
    if spec.treatment_type == "binary":
        suite.append(E.ExpectColumnValuesToBeInSet(column=spec.treatment, value_set=[0, 1]))
    suite.append(E.ExpectColumnValuesToNotBeNull(column=spec.outcome))
    suite.append(E.ExpectColumnValuesToBeInTypeList(column=spec.outcome, type_list=_NUMERIC_TYPES))
    mostly = 1.0 - spec.gates.max_null_fraction
    for column in covariates:
        suite.append(E.ExpectColumnValuesToNotBeNull(column=column, mostly=mostly))
    return suite


def _describe(result: dict) -> str:
    config = result["expectation_config"]
    kwargs = config.get("kwargs", {})
    column = kwargs.get("column")
    observed = result.get("result", {})
    detail = ""
    if "unexpected_percent" in observed and observed["unexpected_percent"] is not None:
        detail = f" ({observed['unexpected_percent']:.2f}% unexpected)"
    elif "observed_value" in observed:
        detail = f" (observed {observed['observed_value']})"
    return f"{config['type']}" + (f"[{column}]" if column else "") + detail


def check_quality(frame: pd.DataFrame, spec: AnalysisSpec, covariates: list[str]) -> QualityReport:
    """Validate the snapshot against the suite; the report names every failed expectation."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GX's deprecation notices about its own internals
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        asset = context.data_sources.add_pandas("whyflow").add_dataframe_asset(spec.name)
        batch = asset.add_batch_definition_whole_dataframe("snapshot").get_batch(
            batch_parameters={"dataframe": frame}
        )
        suite = gx.ExpectationSuite(name=f"whyflow.{spec.name}")
        for expectation in build_expectations(spec, covariates):
            suite.add_expectation(expectation)
        validation = batch.validate(suite).to_json_dict()
    # GX stamps the load time into the result; the run's time is on the MLflow run, and without it
    # the same data gives the same file.
    validation.get("meta", {}).get("batch_markers", {}).pop("ge_load_time", None)
    failed, warned = [], []
    for result in validation["results"]:
        if result["success"]:
            continue
        gate = _gate_of(result, spec)
        if gate is None:
            failed.append(_describe(result))
            continue
        stops, message = gate_message(spec, *gate)
        (failed if stops else warned).append(message)
    nulls = {c: float(frame[c].isna().mean()) for c in covariates if c in frame.columns}
    log.info("quality: %d expectations, %d failed, %d warnings", len(validation["results"]), len(failed), len(warned))
    return QualityReport(
        success=not failed,
        failed=failed,
        evaluated=len(validation["results"]),
        rows=len(frame),
        null_fractions=nulls,
        validation=validation,
        warnings=warned,
    )
