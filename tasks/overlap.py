"""Overlap and balance: common support of the propensity and standardised mean differences."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np

from estimators.base import CausalData
from estimators.propensity import propensity_scores
from whyflow.spec import Gates

__all__ = ["OverlapReport", "check_overlap", "overlap_failures", "standardized_differences"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OverlapReport:
    common_support: float
    support: tuple[float, float]
    propensity_treated: tuple[float, float]
    propensity_control: tuple[float, float]
    smd_before: dict[str, float]
    smd_after: dict[str, float]
    max_smd_before: float
    max_smd_after: float
    effective_sample_size: dict[str, float]
    histogram: dict[str, list[float]]

    def to_json(self) -> dict:
        return asdict(self)


def standardized_differences(W: np.ndarray, t: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """(weighted) mean difference over the unweighted pooled SD, per column (Austin 2009)."""
    treated, control = t == 1, t == 0
    pooled = np.sqrt((W[treated].var(axis=0) + W[control].var(axis=0)) / 2.0)
    w = np.ones(len(t)) if weights is None else weights
    mean1 = np.average(W[treated], axis=0, weights=w[treated])
    mean0 = np.average(W[control], axis=0, weights=w[control])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pooled > 0, (mean1 - mean0) / pooled, 0.0)


def check_overlap(data: CausalData, estimand: str = "ate", bins: int = 40) -> OverlapReport:
    """Propensity by the shared logistic model; SMD before and after inverse-propensity weighting."""
    t = data.T
    e, _ = propensity_scores(data.W, t)
    e1, e0 = e[t == 1], e[t == 0]
    low, high = max(e1.min(), e0.min()), min(e1.max(), e0.max())
    support = float(np.mean((e >= low) & (e <= high))) if low <= high else 0.0
    weights = {"ate": np.where(t == 1, 1 / e, 1 / (1 - e)),
               "att": np.where(t == 1, 1.0, e / (1 - e)),
               "atc": np.where(t == 1, (1 - e) / e, 1.0)}[estimand]
    before = standardized_differences(data.W, t)
    after = standardized_differences(data.W, t, weights)
    ess = {arm: float(w.sum() ** 2 / (w**2).sum()) for arm, w in
           (("treated", weights[t == 1]), ("control", weights[t == 0]))}
    edges = np.linspace(0.0, 1.0, bins + 1)
    report = OverlapReport(
        common_support=support,
        support=(float(low), float(high)),
        propensity_treated=(float(e1.min()), float(e1.max())),
        propensity_control=(float(e0.min()), float(e0.max())),
        smd_before=dict(zip(data.w_names, map(float, before))),
        smd_after=dict(zip(data.w_names, map(float, after))),
        max_smd_before=float(np.max(np.abs(before))) if before.size else 0.0,
        max_smd_after=float(np.max(np.abs(after))) if after.size else 0.0,
        effective_sample_size=ess,
        histogram={"edges": edges.tolist(), "treated": np.histogram(e1, edges)[0].tolist(),
                   "control": np.histogram(e0, edges)[0].tolist()},
    )
    log.info("overlap: common support %.3f, max |SMD| %.3f -> %.3f",
             support, report.max_smd_before, report.max_smd_after)
    return report


def overlap_failures(report: OverlapReport, gates: Gates) -> list[str]:
    """The gate conditions the report violates, each naming the threshold and the value seen."""
    failures = []
    if report.common_support < gates.min_common_support:
        failures.append(f"common support {report.common_support:.3f} < min_common_support {gates.min_common_support}")
    if report.max_smd_after > gates.max_smd_after_weighting:
        worst = max(report.smd_after, key=lambda k: abs(report.smd_after[k]))
        failures.append(f"max |SMD| after weighting {report.max_smd_after:.3f} ({worst}) > "
                        f"max_smd_after_weighting {gates.max_smd_after_weighting}")
    return failures
