"""The streaming estimators in the registry: exact out-of-core versions that pass over data in chunks.

Each runs estimators/stream_fit.run_streaming on one method. In memory (`fit(CausalData)`) the data
are cut into blocks, which gives the same numbers as the out-of-core engines (tests); on a large
source the analysis flow runs all requested streaming methods in one shared schedule of passes and
builds the estimates with `estimate_from_stream`. stream_linear_regression equals linear_regression;
stream_linear_dml is EconML LinearDML's estimator with the same linear/logistic nuisances, on hash
folds instead of EconML's random folds; stream_aipw is aipw's estimator with linear/logistic
nuisances, on hash folds. Given other nuisances (outcome_model/propensity_model, e.g. lightgbm), those two
fit them on a seeded hash subsample and run the final stage over all rows (estimators/stream_flexible.py).
"""

from __future__ import annotations

import time

from estimators.base import CausalData, Estimate, Estimator, normal_inference
from estimators.nuisance import NUISANCE_OPTIONS, check_nuisance, nuisance_choice
from estimators.option_checks import check_float, check_int
from estimators.registry import register
from estimators.stream_fit import run_streaming
from estimators.stream_flexible import NUISANCE_SAMPLE_ROWS, is_flexible, run_flexible
from estimators.stream_passes import StreamRequest
from estimators.streaming import MemoryEngine

__all__ = ["StreamLinearRegression", "StreamLinearDML", "StreamAIPW", "METHOD_OF", "estimate_from_stream",
           "request_for"]

METHOD_OF = {"stream_linear_regression": "linear_regression", "stream_linear_dml": "linear_dml",
             "stream_aipw": "aipw"}


def request_for(names: list[str], estimand: str, options: dict, overlap: bool = False) -> StreamRequest:
    """One request for several streaming estimators; options (per estimator) must agree on folds."""
    clip = float(options.get("stream_aipw", {}).get("clip", 0.01))
    return StreamRequest(methods=tuple(METHOD_OF[n] for n in names), estimand=estimand, overlap=overlap, clip=clip)


def _segments_with_ci(table: dict) -> dict:
    return {segment: [row | {k: v for k, v in normal_inference(row["cate"], row["std_error"]).items() if k != "p_value"}
                      for row in rows] for segment, rows in table.items()}


def estimate_from_stream(name: str, result: dict, estimand: str, seconds: float, summary: str) -> Estimate:
    """The Estimate of one streaming method from a run_streaming result."""
    out = result[METHOD_OF[name]]
    value, se = float(out["value"]), float(out["std_error"])
    return Estimate(estimator=name, estimand=estimand, value=value, std_error=se, **normal_inference(value, se),
                    n=int(result["n"]), seconds=seconds, method=summary,
                    details=out["details"] | {"passes": result["passes"], "shared_passes": True},
                    segments=_segments_with_ci(out.get("segments", {})))


class _Streaming(Estimator):
    streams = True
    options_doc = {"cv": "cross-fitting folds from the hash of the row number or unit_id (default 5)",
                   "chunk_rows": "rows per block in memory (default 250000)"}

    @classmethod
    def _check_option_values(cls, options: dict) -> None:
        check_int(options, "cv", 2, 20)
        check_int(options, "chunk_rows", 1, 10**9)
        if "clip" in cls.options_doc:
            check_float(options, "clip", 0.0, 0.5, open_low=False)
        if "nuisance_sample_rows" in cls.options_doc:
            check_int(options, "nuisance_sample_rows", 2, 10**9)
            check_nuisance(options)

    def _fit(self, data: CausalData) -> dict:
        engine = MemoryEngine(data, folds=int(self.options.get("cv", 5)), seed=self.seed,
                              chunk_rows=int(self.options.get("chunk_rows", 250_000)))
        request = StreamRequest(methods=(METHOD_OF[self.name],), estimand=self.estimand,
                                clip=float(self.options.get("clip", 0.01)))
        started = time.perf_counter()
        outcome, propensity = nuisance_choice(self.options)
        if is_flexible(outcome, propensity):  # seeded subsample for the nuisances, final stage on all rows
            result = run_flexible(engine, request, outcome, propensity, self.seed,
                                  int(self.options.get("nuisance_sample_rows", NUISANCE_SAMPLE_ROWS)))
        else:
            result = run_streaming(engine, request)
        self.result_ = result
        out = result[METHOD_OF[self.name]]
        return {"value": out["value"], "std_error": out["std_error"], "n": result["n"],
                "details": out["details"] | {"passes": result["passes"],
                                             "pass_seconds": time.perf_counter() - started}}

    def _segment_table(self, data: CausalData, cate) -> dict | None:
        result = getattr(self, "result_", None)
        if result is None or not data.segments:
            return None
        return _segments_with_ci(result[METHOD_OF[self.name]].get("segments", {}))


_FLEXIBLE_DOC = {**NUISANCE_OPTIONS, "nuisance_sample_rows": "rows of the seeded hash subsample that flexible "
                 f"(not linear/logistic) nuisances are fitted on (default {NUISANCE_SAMPLE_ROWS:,}); the final "
                 "stage uses all rows"}


@register
class StreamLinearRegression(_Streaming):
    name = "stream_linear_regression"
    family = "backdoor regression (streaming)"
    summary = "OLS adjustment with treatment x modifier interactions, HC1 errors; two passes, out-of-core"
    treatment_types = ("binary", "continuous")
    gives_cate = True


@register
class StreamLinearDML(_Streaming):
    name = "stream_linear_dml"
    family = "double machine learning (streaming)"
    summary = "partially linear DML, OLS/logistic nuisances, hash-fold cross-fitting, out-of-core"
    treatment_types = ("binary", "continuous")
    gives_cate = True
    options_doc = {**_Streaming.options_doc, **_FLEXIBLE_DOC}


@register
class StreamAIPW(_Streaming):
    name = "stream_aipw"
    family = "backdoor doubly robust (streaming)"
    summary = "AIPW, OLS outcome per arm / logistic propensity, hash-fold cross-fitting, out-of-core"
    gives_cate = True
    options_doc = {**_Streaming.options_doc, "clip": "propensity bounds [c, 1 - c] (default 0.01, as aipw)",
                   **_FLEXIBLE_DOC}


