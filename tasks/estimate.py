"""Estimate: run the chosen estimators on the same data; one failure never stops the others."""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from estimators import registry
from estimators.base import CausalData, Estimate, normal_inference
from tasks.identify import Identification
from whyflow.errors import SpecError
from whyflow.spec import AnalysisSpec

__all__ = ["resolve_estimators", "causal_data", "estimate_effects", "naive_difference", "cate_by_segment"]

log = logging.getLogger(__name__)


def resolve_estimators(spec: AnalysisSpec) -> list[str]:
    """The spec's estimators, or the recommended set; an unknown name is a SpecError."""
    known = registry.available()
    names = spec.estimators or registry.recommended(spec.treatment_type)
    for name in names:
        if name not in known:
            raise SpecError(f"analysis '{spec.name}': unknown estimator {name!r} in 'estimators'; "
                            f"expected one of {sorted(known)}")
    return list(names)


def causal_data(frame, spec: AnalysisSpec, identification: Identification) -> CausalData:
    return CausalData.from_frame(
        frame, treatment=spec.treatment, outcome=spec.outcome, adjustment=identification.backdoor or [],
        modifiers=spec.effect_modifiers, segments=spec.segments, categorical=spec.categorical,
        treatment_type=spec.treatment_type,
    )


def estimate_effects(data: CausalData, spec: AnalysisSpec, names: list[str]) -> list[Estimate]:
    results = []
    for name in names:
        started = time.perf_counter()
        try:
            estimate = registry.get(name)(estimand=spec.estimand, seed=spec.seed).fit(data).estimate_
        except Exception as exc:  # recorded as failed with its reason; the other estimators still run
            log.warning("estimator %s failed: %s", name, exc)
            estimate = Estimate(name, spec.estimand, status="failed", error=f"{type(exc).__name__}: {exc}",
                                seconds=time.perf_counter() - started)
        else:
            log.info("%s: %s = %.4g [%.4g, %.4g] in %.2f s", name, spec.estimand.upper(), estimate.value,
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
    """Mean per-unit CATE by segment for each estimator that returns CATEs."""
    table: dict[str, dict[str, list[dict]]] = {}
    for estimate in estimates:
        if not estimate.ok or estimate.cate is None:
            continue
        for segment, labels in data.segments.items():
            rows = []
            for label in sorted(set(labels)):
                members = labels == label
                rows.append({"segment": label, "n": int(members.sum()), "cate": float(estimate.cate[members].mean())})
            table.setdefault(estimate.estimator, {})[segment] = rows
    return table
