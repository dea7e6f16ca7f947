"""One refutation's record and the verdict rules the simulation-based refuters share.

A verdict is about a change that matters (issue 21, item 5): a shift fails a check only when it is
both statistically significant (two-sided p < 0.05 of a t test on the mean of the S simulations,
with the SE of that mean, sd / sqrt(S), and S - 1 degrees of freedom) and larger than half of the
estimate's own standard error. A shift of 0.01 SE measured very precisely is not a refutation, and
a large shift measured from two noisy simulations is not evidence of one: fewer than 5 simulations
give an inconclusive verdict (passed = None).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np
from scipy import stats

from estimators.base import CausalData, Estimate

__all__ = ["Refutation", "MIN_SIMULATIONS", "MATERIAL_SHARE", "ALPHA", "CATEGORIES", "VERDICTS", "shift_test",
           "judged", "too_few", "refutation_of", "SHIFT_RULE", "Plan", "RefuterSpec", "RefuteContext",
           "FIT_COLUMNS"]

MIN_SIMULATIONS = 5
MATERIAL_SHARE = 0.5  # a shift must exceed this share of the estimate's own SE to matter
ALPHA = 0.05
FIT_COLUMNS = ("value", "std_error", "ci_low", "ci_high")  # one row per refit
CATEGORIES = ("sanity", "bias", "sensitivity")
VERDICTS = ("pass", "fail", "inconclusive", "not_applicable", "failed")
SHIFT_RULE = (f"fail only when the shift of the mean of the simulations from {{reference}} is both significant "
              f"(p < {ALPHA}, t test with the SE of that mean, sd/sqrt(S)) and larger than {MATERIAL_SHARE} x the "
              f"estimate's own SE; fewer than {MIN_SIMULATIONS} simulations: inconclusive")


@dataclass(frozen=True)
class Refutation:
    """One refuter against one estimate. `passed` is True/False, or None when the verdict is
    inconclusive, not applicable or the refuter could not run (`verdict` says which)."""

    refuter: str
    estimator: str
    original: float
    new_effect: float
    new_effect_sd: float
    p_value: float | None
    passed: bool | None
    simulations: int
    status: str = "ok"
    error: str | None = None
    interval_low: float | None = None
    interval_high: float | None = None
    criterion: str = ""
    category: str = "sanity"
    verdict: str = "inconclusive"
    detects: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("original", "new_effect", "new_effect_sd", "p_value", "interval_low", "interval_high"):
            if isinstance(data[key], float) and not math.isfinite(data[key]):
                data[key] = None
        data["details"] = _finite(data["details"])
        return data


def _finite(value: Any) -> Any:
    """NaN and inf become None, so refutation.json stays strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def shift_test(values: np.ndarray, reference: float, scale: float) -> dict[str, float | bool]:
    """The two-part rule: is the mean of `values` off `reference` significantly and by more than
    MATERIAL_SHARE x `scale` (the estimate's SE)?"""
    count = values.size
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if count > 1 else math.nan
    se_mean = sd / math.sqrt(count) if count > 1 else math.nan
    shift = mean - reference
    if not math.isfinite(se_mean):
        p = math.nan
    elif se_mean <= 1e-12 * max(1.0, abs(reference)):  # identical refits up to rounding: a shift is exact
        p = 1.0 if math.isclose(shift, 0.0, abs_tol=1e-9 * max(1.0, abs(reference))) else 0.0
    else:
        p = float(2 * stats.t.sf(abs(shift) / se_mean, count - 1))
    if not (math.isfinite(scale) and scale > 0):  # no SE of its own: the simulations' spread stands in
        scale = sd
    material = abs(shift) > MATERIAL_SHARE * scale if math.isfinite(scale) else True
    significant = math.isfinite(p) and p < ALPHA
    return {"mean": mean, "sd": sd, "se_of_mean": se_mean, "shift": shift, "shift_in_se": shift / scale
            if math.isfinite(scale) and scale > 0 else math.nan, "p_value": p, "significant": significant,
            "material": bool(material), "fails": bool(significant and material)}


def judged(fails: bool) -> tuple[str, bool]:
    return ("fail", False) if fails else ("pass", True)


def too_few(simulations: int) -> str | None:
    if simulations < MIN_SIMULATIONS:
        return f"too few simulations ({simulations}); at least {MIN_SIMULATIONS} needed"
    return None


def refutation_of(refuter: str, estimate: Estimate, spec, **fields: Any) -> Refutation:
    """A Refutation carrying the refuter's labels (category, what it detects, its criterion)."""
    base = {"new_effect": math.nan, "new_effect_sd": math.nan, "p_value": None, "passed": None, "simulations": 0}
    base.update(fields)
    return Refutation(refuter, estimate.estimator, estimate.value, category=spec.category, detects=spec.detects,
                      criterion=fields.get("criterion", spec.criterion), **{k: v for k, v in base.items()
                                                                            if k != "criterion"})


class Plan(NamedTuple):
    """What one (refuter, estimate) pair runs: `count` refits (None: the spec's simulations) of
    `transform(data, rng, index, context)`; `data` None means the analysed data."""

    count: int | None = None
    context: Any = None
    data: CausalData | None = None


class RefuterSpec(NamedTuple):
    """A refuter's labels and its three steps. `prepare` returns a Plan, or a string saying why the
    refuter does not apply to this estimate; `conclude` turns the refits (rows of value, SE, CI low,
    CI high) into the Refutation."""

    category: str
    detects: str
    criterion: str
    prepare: Callable[..., "Plan | str"]
    transform: Callable[..., CausalData]
    conclude: Callable[..., Refutation]


@dataclass
class RefuteContext:
    """What every refuter of one refute call may share: the data, the spec's seed and simulation
    count, the plasmode effect, and work done once per call (the outcome surface) in `cache`."""

    data: CausalData
    seed: int
    simulations: int
    plasmode_effect: float | None = None
    cache: dict[str, Any] = field(default_factory=dict)
