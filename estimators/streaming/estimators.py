"""The streaming estimators in the registry: exact out-of-core versions that pass over data in chunks.

`fit(data)` takes a CausalData (cut into blocks by a MemoryEngine: the same numbers as the
out-of-core engines) or an Engine over a large source. `fit_together(estimators, data)` fits several
of them in one shared schedule of passes: what estimate_effects calls, in memory and streamed.
stream_linear_regression equals linear_regression;
stream_linear_dml is EconML LinearDML's estimator with the same linear/logistic nuisances, on hash
folds instead of EconML's random folds; stream_aipw is aipw's estimator with linear/logistic
nuisances, on hash folds. Given other nuisances (outcome_model/propensity_model, e.g. lightgbm), those two
fit them on a seeded hash subsample and run the final stage over all rows (flexible.py).
"""

from __future__ import annotations

import time
from typing import Annotated, Self

import numpy as np
from pydantic import Field

from estimators.base import CausalData, Estimate, Estimator, NotApplicable, normal_inference
from estimators.options import EstimatorOptions, NuisanceOptions, integer, number
from estimators.registry import register
from estimators.streaming.blocks import Engine
from estimators.streaming.engines import MemoryEngine
from estimators.streaming.fit import run_streaming
from estimators.streaming.flexible import NUISANCE_SAMPLE_ROWS, is_flexible, run_flexible
from estimators.streaming.evidence import EvidenceRequest
from estimators.streaming.passes import StreamRequest

__all__ = ["StreamLinearRegression", "StreamLinearDML", "StreamAIPW", "StreamingEstimator", "METHOD_OF",
           "fit_together"]

METHOD_OF = {"stream_linear_regression": "linear_regression", "stream_linear_dml": "linear_dml",
             "stream_aipw": "aipw"}


def _segments_with_ci(table: dict) -> dict:
    return {segment: [row | {k: v for k, v in normal_inference(row["cate"], row["std_error"]).items() if k != "p_value"}
                      for row in rows] for segment, rows in table.items()}


class StreamingEstimator(Estimator):
    """Base of the streaming estimators: options every one of them takes, and the shared fit."""

    streams = True

    class Options(EstimatorOptions):
        cv: Annotated[int, integer(2, 20)] = Field(5, description="cross-fitting folds from the hash of the row number "
                                                                  "or unit_id")
        chunk_rows: Annotated[int, integer(1, 10**9)] = Field(250_000, description="rows per block in memory")

    def _engine(self, data: CausalData | Engine) -> Engine:
        if isinstance(data, CausalData):
            return MemoryEngine(data, folds=self.options.cv, seed=self.seed, chunk_rows=self.options.chunk_rows)
        return data

    def fit(self, data: CausalData | Engine, *, overlap: bool = False) -> Self:
        fit_together([self], data, overlap=overlap)
        return self


def _applicable(estimator: StreamingEstimator, data: CausalData | Engine) -> bool:
    checked = data if isinstance(data, CausalData) else CausalData(
        Y=np.empty(0), T=np.empty(0), covariates=np.empty((0, 0)), X=np.empty((0, 0)), covariate_names=[],
        x_names=[], treatment_type=data.layout.treatment_type)
    try:
        estimator.check(checked)
    except NotApplicable as exc:
        estimator.estimate_ = Estimate(estimator.name, estimator.estimand, status="not_applicable", error=str(exc))
        return False
    return True


def _nuisance(estimators: list[StreamingEstimator]) -> tuple[str, str, int]:
    """The nuisance models shared by the estimators that take them (they must agree) and the largest
    subsample any of them asks for."""
    taking = [e.options for e in estimators if hasattr(e.options, "outcome_model")]
    if not taking:
        return "linear", "logistic", NUISANCE_SAMPLE_ROWS
    choices = {(o.outcome_model, o.propensity_model) for o in taking}
    if len(choices) > 1:
        raise ValueError(f"streaming estimators fitted together must share their nuisance models; got {sorted(choices)}")
    return (*choices.pop(), max(o.nuisance_sample_rows for o in taking))


def fit_together(estimators: list[StreamingEstimator], data: CausalData | Engine, *, overlap: bool = False,
                 evidence: EvidenceRequest | None = None, strata: tuple | None = None) -> dict:
    """Fit several streaming estimators in one schedule of passes over the data; sets each one's
    `estimate_` and returns the raw pass result (naive difference, overlap, passes). An estimator that
    cannot serve the data (estimand, treatment type) is marked not applicable and left out."""
    estimators = [e for e in estimators if _applicable(e, data)]
    if not estimators:
        return {}
    first = estimators[0]
    engine = first._engine(data)
    estimand = first.estimand
    clip = next((e.options.clip for e in estimators if hasattr(e.options, "clip")), 0.01)
    request = StreamRequest(methods=tuple(METHOD_OF[e.name] for e in estimators), estimand=estimand,
                            overlap=overlap, clip=clip, evidence=evidence, strata=strata)
    started = time.perf_counter()
    outcome, propensity, sample_rows = _nuisance(estimators)
    if is_flexible(outcome, propensity):  # seeded subsample for the nuisances, final stage on all rows
        result = run_flexible(engine, request, outcome, propensity, first.seed, sample_rows)
    else:
        result = run_streaming(engine, request)
    seconds = time.perf_counter() - started
    for estimator in estimators:
        out = result[METHOD_OF[estimator.name]]
        value, se = float(out["value"]), float(out["std_error"])
        estimator.result_ = result
        estimator.estimate_ = Estimate(
            estimator=estimator.name, estimand=estimand, value=value, std_error=se, **normal_inference(value, se),
            n=int(result["n"]), seconds=seconds, method=estimator.summary,
            details=out["details"] | {"passes": result["passes"], "shared_passes": len(estimators) > 1},
            segments=_segments_with_ci(out.get("segments", {})) or None)
    return result


class _FlexibleOptions(StreamingEstimator.Options, NuisanceOptions):
    nuisance_sample_rows: Annotated[int, integer(2, 10**9)] = Field(
        NUISANCE_SAMPLE_ROWS, description="rows of the seeded hash subsample that flexible (not linear/logistic) "
                                          "nuisances are fitted on; the final stage uses all rows")


@register
class StreamLinearRegression(StreamingEstimator):
    name = "stream_linear_regression"
    family = "backdoor regression (streaming)"
    summary = "OLS adjustment with treatment x modifier interactions, HC1 errors; two passes, out-of-core"
    treatment_types = ("binary", "continuous")
    gives_cate = True


@register
class StreamLinearDML(StreamingEstimator):
    name = "stream_linear_dml"
    family = "double machine learning (streaming)"
    summary = "partially linear DML, OLS/logistic nuisances, hash-fold cross-fitting, out-of-core"
    treatment_types = ("binary", "continuous")
    gives_cate = True
    Options = _FlexibleOptions


@register
class StreamAIPW(StreamingEstimator):
    name = "stream_aipw"
    family = "backdoor doubly robust (streaming)"
    summary = "AIPW, OLS outcome per arm / logistic propensity, hash-fold cross-fitting, out-of-core"
    gives_cate = True

    class Options(_FlexibleOptions):
        clip: Annotated[float, number(0.0, 0.5, open_low=False)] = Field(
            0.01, description="propensity bounds [c, 1 - c], as aipw")
