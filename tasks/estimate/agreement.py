"""Agreement across estimators: each pair's difference over its pooled standard error.

z = (a - b) / sqrt(se_a^2 + se_b^2), flagged when |z| > 3. The pooled error ignores the covariance
between two estimates computed on the same rows, which is usually positive, so the true standard
error of the difference is smaller and this z understates disagreement: a flag is a real conflict
(different identifying assumptions, a misspecified model), not noise. Only estimates of the same
estimand are compared (an IV LATE and a back-door ATE may differ legitimately).
"""

from __future__ import annotations

import itertools
import math

from estimators.base import Estimate

__all__ = ["DISAGREEMENT_Z", "estimator_agreement"]

DISAGREEMENT_Z = 3.0


def _usable(estimate: Estimate) -> bool:
    return (estimate.ok and math.isfinite(estimate.value) and math.isfinite(estimate.std_error)
            and estimate.std_error > 0)


def estimator_agreement(estimates: list[Estimate], threshold: float = DISAGREEMENT_Z) -> dict:
    """{"threshold", "max_z", "pairs": [{"a", "b", "estimand", "difference", "pooled_se", "z", "disagree"}],
    "disagreeing": [[a, b], ...], "not_compared": {estimator: reason}}."""
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError(f"`threshold` must be a positive number; got {threshold!r}")
    usable = [e for e in estimates if _usable(e)]
    not_compared = {e.estimator: (e.error or e.status) if not e.ok else "no finite standard error"
                    for e in estimates if not _usable(e)}
    pairs = []
    for a, b in itertools.combinations(usable, 2):
        if a.estimand != b.estimand:
            continue
        pooled = math.sqrt(a.std_error**2 + b.std_error**2)
        z = (a.value - b.value) / pooled
        pairs.append({"a": a.estimator, "b": b.estimator, "estimand": a.estimand, "difference": a.value - b.value,
                      "pooled_se": pooled, "z": z, "disagree": abs(z) > threshold})
    return {
        "threshold": threshold,
        "max_z": max((abs(p["z"]) for p in pairs), default=None),
        "pairs": pairs,
        "disagreeing": [[p["a"], p["b"]] for p in pairs if p["disagree"]],
        "not_compared": not_compared,
    }
