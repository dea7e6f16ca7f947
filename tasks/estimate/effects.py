"""Estimate: run the chosen estimators on the same data; one failure never stops the others."""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from estimators import registry
from estimators.base import CausalData, Estimate, normal_inference
from tasks.identify.effect import Identification
from whyflow.errors import SpecError
from whyflow.spec import AnalysisSpec

__all__ = ["resolve_estimators", "select_estimators", "causal_data", "estimate_effects", "naive_difference",
           "cate_by_segment", "check_estimator_options", "estimator_options"]

log = logging.getLogger(__name__)


def resolve_estimators(spec: AnalysisSpec, identification: Identification | None = None) -> list[str]:
    """The spec's estimators, or the recommended set; an unknown name is a SpecError."""
    known = registry.available()
    names = spec.estimators or _recommend(spec, identification)["estimators"]
    for name in names:
        if name not in known:
            raise SpecError(f"analysis '{spec.name}': unknown estimator {name!r} in 'estimators'; "
                            f"expected one of {sorted(known)}")
    check_estimator_options(spec)
    return list(names)


def check_estimator_options(spec: AnalysisSpec) -> None:
    """Every `estimator_options` entry names a known estimator and options it accepts, with good values."""
    known = registry.available()
    for name, options in spec.estimator_options.items():
        if name not in known:
            raise SpecError(f"analysis '{spec.name}': unknown estimator {name!r} in 'estimator_options'; "
                            f"expected one of {sorted(known)}")
        try:
            registry.get(name).check_options(options)
        except ValueError as exc:
            raise SpecError(f"analysis '{spec.name}': estimator_options.{name}: {exc}") from None


def estimator_options(spec: AnalysisSpec, name: str) -> dict:
    """The options one estimator is built with: the spec's nuisance choice where the estimator takes
    one, overridden by its own `estimator_options` entry."""
    accepted = registry.get(name).options_doc
    nuisance = {"outcome_model": spec.nuisance.outcome, "propensity_model": spec.nuisance.propensity}
    return {k: v for k, v in nuisance.items() if k in accepted} | dict(spec.estimator_options.get(name, {}))


def _recommend(spec: AnalysisSpec, identification: Identification | None) -> dict:
    """The registry's set for the declared design (before identification: assuming a back-door set)."""
    if identification is not None and identification.strategy == "frontdoor" and not spec.instruments:
        return registry.recommend(spec.treatment_type, backdoor=False, estimand=spec.estimand)
    return registry.recommend(spec.treatment_type, instruments=bool(spec.instruments),
                              running_variable=spec.running_variable is not None,
                              backdoor=identification is None or identification.backdoor is not None,
                              estimand=spec.estimand)


def select_estimators(spec: AnalysisSpec, identification: Identification | None = None) -> dict:
    """{'design', 'estimators', 'reason', 'source'}: the spec's list, or the set recommended for the
    design its roles declare; logged, and written to estimates.json as "selection"."""
    chosen = _recommend(spec, identification)
    if spec.estimators:
        chosen = {"design": chosen["design"], "estimators": list(spec.estimators),
                  "reason": "named in the spec's 'estimators'", "source": "spec"}
    else:
        chosen = chosen | {"source": "recommended"}
    log.info("estimators (%s, %s design): %s; %s", chosen["source"], chosen["design"],
             ", ".join(chosen["estimators"]), chosen["reason"])
    return chosen


def causal_data(frame, spec: AnalysisSpec, identification: Identification) -> CausalData:
    """The design matrices for every estimator. Without a back-door set, W holds the covariates the
    instruments need (identification.iv_controls) and the back-door estimators refuse by name."""
    backdoor = identification.backdoor
    adjustment = backdoor if backdoor is not None else (identification.iv_controls or [])
    return CausalData.from_frame(
        frame, treatment=spec.treatment, outcome=spec.outcome, adjustment=adjustment,
        modifiers=spec.effect_modifiers, segments=spec.segments, categorical=spec.categorical,
        treatment_type=spec.treatment_type, instruments=spec.instruments,  # declared only: no surprise row drops
        running_variable=spec.running_variable, cutoff=spec.cutoff, mediators=identification.frontdoor or [],
        backdoor_identified=backdoor is not None,
    )


def estimate_effects(data: CausalData, spec: AnalysisSpec, names: list[str]) -> list[Estimate]:
    results = []
    for name in names:
        started = time.perf_counter()
        try:
            options = estimator_options(spec, name)
            estimate = registry.get(name)(estimand=spec.estimand, seed=spec.seed, **options).fit(data).estimate_
        except Exception as exc:  # recorded as failed with its reason; the other estimators still run
            log.warning("estimator %s failed: %s", name, exc)
            estimate = Estimate(name, spec.estimand, status="failed", error=f"{type(exc).__name__}: {exc}",
                                seconds=time.perf_counter() - started)
        else:
            if not estimate.ok:
                log.info("%s: %s (%s)", name, estimate.status, estimate.error)
            else:
                log.info("%s: %s = %.4g [%.4g, %.4g] in %.2f s", name, estimate.estimand.upper(), estimate.value,
                         estimate.ci_low, estimate.ci_high, estimate.seconds)
        results.append(estimate)
    return results


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
