"""Estimate: run the plan's estimators on the same data; one failure never stops the others."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace

import numpy as np

from estimators import registry
from estimators.base import CausalData, Estimate, normal_inference
from estimators.streaming.blocks import Engine
from estimators.streaming.estimators import fit_together
from tasks.identify.effect import Identification
from tasks.plan import AnalysisPlan, estimator_options
from whyflow.spec import AnalysisSpec

__all__ = ["causal_data", "estimate_effects", "estimate_streamed", "naive_difference", "cate_by_segment"]

log = logging.getLogger(__name__)


def causal_data(frame, spec: AnalysisSpec, identification: Identification, plan: AnalysisPlan) -> CausalData:
    """The design matrices for every estimator. Without a back-door set, the covariates are those the
    instruments need (identification.iv_controls) and the back-door estimators refuse by name."""
    backdoor = identification.backdoor
    return CausalData.from_frame(
        frame, treatment=spec.treatment, outcome=spec.outcome, adjustment=list(plan.adjustment),
        modifiers=spec.effect_modifiers, segments=spec.segments, categorical=spec.categorical,
        treatment_type=spec.treatment_type, instruments=spec.instruments,  # declared only: no surprise row drops
        running_variable=spec.running_variable, cutoff=spec.cutoff, mediators=identification.frontdoor or [],
        proxies=spec.proxies,
        negative_outcomes=spec.negative_controls.outcomes, negative_exposures=spec.negative_controls.exposures,
        backdoor_identified=backdoor is not None,
    )


def _log(estimate: Estimate) -> None:
    if not estimate.ok:
        log.info("%s: %s (%s)", estimate.estimator, estimate.status, estimate.error)
    else:
        log.info("%s: %s = %.4g [%.4g, %.4g] in %.2f s", estimate.estimator, estimate.estimand.upper(), estimate.value,
                 estimate.ci_low, estimate.ci_high, estimate.seconds)


def estimate_effects(data: CausalData, spec: AnalysisSpec, names: list[str] | tuple[str, ...],
                     options: dict[str, dict] | None = None) -> list[Estimate]:
    """Each named estimator on the same data, built with `options` (default: the plan's rule,
    tasks.plan.estimator_options); one failure never stops the others."""
    results = []
    for name in names:
        started = time.perf_counter()
        try:
            chosen = options[name] if options is not None else estimator_options(spec, name)
            estimator = registry.get(name)(estimand=spec.estimand, seed=spec.seed, **chosen).fit(data)
            estimate = estimator.estimate_
            if estimate.ok and estimator.gives_cate:
                estimate = replace(estimate, fitted=estimator)
        except Exception as exc:  # recorded as failed with its reason; the other estimators still run
            log.warning("estimator %s failed: %s", name, exc)
            estimate = Estimate(name, spec.estimand, status="failed", error=f"{type(exc).__name__}: {exc}",
                                seconds=time.perf_counter() - started)
        else:
            _log(estimate)
        results.append(estimate)
    return results


def estimate_streamed(engine: Engine, spec: AnalysisSpec, names: list[str] | tuple[str, ...],
                      options: dict[str, dict], *, overlap: bool, evidence=None,
                      strata=None) -> tuple[list[Estimate], dict]:
    """The streaming estimators on a large source, in one shared schedule of passes; with the raw
    pass result (naive difference, overlap statistics, passes; the evidence's sums when asked)."""
    built = [registry.get(name)(estimand=spec.estimand, seed=spec.seed, **options[name]) for name in names]
    result = fit_together(built, engine, overlap=overlap, evidence=evidence, strata=strata)
    estimates = [e.estimate_ for e in built]
    for estimate in estimates:
        _log(estimate)
    return estimates, result


def naive_difference(data: CausalData) -> Estimate:
    """Difference in means (Welch standard error): what the effect looks like without adjustment."""
    started = time.perf_counter()
    if data.treatment_type != "binary":
        slope = np.polyfit(data.T, data.Y, 1)[0]
        return Estimate("naive", "association", value=float(slope), n=data.n, method="unadjusted slope")
    y1, y0 = data.Y[data.T == 1], data.Y[data.T == 0]
    value = float(y1.mean() - y0.mean())
    se = math.sqrt(y1.var(ddof=1) / y1.size + y0.var(ddof=1) / y0.size)
    return Estimate("naive", "difference in means", value=value, std_error=se, **normal_inference(value, se),
                    n=data.n, seconds=time.perf_counter() - started, method="unadjusted difference in means")


def cate_by_segment(estimates: list[Estimate], data: CausalData) -> dict[str, dict[str, list[dict]]]:
    """CATE by segment for each estimator that returns CATEs: the member-level table
    {estimator: {segment column: [{"segment", "n", "cate", "std_error", "ci_low", "ci_high"}]}}, with
    each estimator's own segment inference (Estimator.segment_effect); without one, CI fields are None."""
    table: dict[str, dict[str, list[dict]]] = {}
    for estimate in estimates:
        if not estimate.ok or estimate.cate is None:
            continue
        if estimate.segments:
            table[estimate.estimator] = {
                segment: [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
                          for row in rows]
                for segment, rows in estimate.segments.items()}
            continue
        for segment, labels in data.segments.items():
            rows = []
            for label in sorted(set(labels)):
                members = labels == label
                rows.append({"segment": label, "n": int(members.sum()), "cate": float(estimate.cate[members].mean())})
            table.setdefault(estimate.estimator, {})[segment] = rows
    return table
