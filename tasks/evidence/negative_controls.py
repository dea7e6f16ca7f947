"""Negative controls (spec `negative_controls`): effects a sound estimator must find to be zero.

outcome   an outcome the treatment cannot affect (last month's GMV): the estimator is re-run with Y
          replaced by it. A hidden confounder of T and Y that also drives it shows up as an effect.
exposure  an exposure that cannot affect the outcome: T is replaced by it (binary, for a binary-
          treatment estimator), and the real treatment joins the adjustment set so that the
          exposure's tie to the treatment is not read as an effect (Lipsitch et al. 2010).

A control FAILS when it is significant, |estimate| / SE > z(1 - 0.025 / k) with k the number of
controls (a 95% CI, Bonferroni-widened so that k controls together keep a 5% false-alarm rate), AND
its estimate, put on the main
estimate's scale, exceeds 0.5 x the main estimate's SE (an effect that matters): an exposure's
estimate is already on Y's scale; an outcome's is rescaled by SD(Y) / SD(control), i.e. the hidden
bias is assumed equal in SD units (Lipsitch et al.'s "U-comparability"). The refuter fails when any
control fails and passes when every control ran and none did.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from estimators import registry
from estimators.base import CausalData, Estimate
from tasks.evidence.refutation import ALPHA, MATERIAL_SHARE, Plan, RefuteContext, RefuterSpec, Refutation, refutation_of

__all__ = ["NEGATIVE_CONTROL", "NEGATIVE_CONTROL_RULE"]

NEGATIVE_CONTROL_RULE = (f"a control fails when |estimate|/SE > z(1 - 0.025/k) (its 95% CI, Bonferroni over the k "
                         f"controls, excludes 0) and |its estimate| on the main estimate's scale "
                         f"(outcomes rescaled by SD(Y)/SD(control)) > {MATERIAL_SHARE} x the main estimate's SE; "
                         "the check fails when any control fails")


def _is_binary(values: np.ndarray) -> bool:
    return bool(np.isin(np.unique(values), (0.0, 1.0)).all())


def _plan(data: CausalData, estimate: Estimate, context: RefuteContext) -> Plan | str:
    controls, skipped = [], []
    for name, values in data.negative_outcomes.items():
        sd = float(values.std())
        if sd == 0:
            skipped.append({"kind": "outcome", "control": name, "reason": "the control outcome is constant"})
            continue
        controls.append(("outcome", name, data.Y.std() / sd))
    backdoor = not registry.get(estimate.estimator).requires
    for name, values in data.negative_exposures.items():
        if not backdoor:
            skipped.append({"kind": "exposure", "control": name,
                            "reason": "an exposure control replaces the treatment of a back-door design"})
        elif data.treatment_type == "binary" and not _is_binary(values):
            skipped.append({"kind": "exposure", "control": name, "reason": "a binary-treatment estimator needs a "
                            f"0/1 exposure control; got {np.unique(values).size} distinct values"})
        else:
            controls.append(("exposure", name, 1.0))
    if not controls:
        reasons = "; ".join(f"{s['control']}: {s['reason']}" for s in skipped)
        return f"no negative control applies to this estimator ({reasons or 'none declared'})"
    return Plan(count=len(controls), context=(controls, skipped))


def _swap(data: CausalData, rng: np.random.Generator, index: int, context) -> CausalData:
    kind, name, _ = context[0][index]
    if kind == "outcome":
        return data.replace(Y=data.negative_outcomes[name])
    # the real treatment is adjusted for: the control's link to it runs through T, not through U
    return data.replace(T=data.negative_exposures[name], covariates=np.hstack([data.covariates, data.T[:, None]]),
                        covariate_names=[*data.covariate_names, "_treatment"])


def _conclusion(refuter: str, spec: RefuterSpec, estimate: Estimate, fits: np.ndarray, context) -> Refutation:
    controls, skipped = context
    main_se = estimate.std_error
    rows, failures = [], []
    critical = float(stats.norm.ppf(1 - ALPHA / 2 / len(controls)))
    for (kind, name, scale), (value, se, low, high) in zip(controls, fits):
        low, high = value - critical * se, value + critical * se
        significant = bool(math.isfinite(low) and math.isfinite(high) and (low > 0 or high < 0))
        on_main_scale = value * scale
        material = not math.isfinite(main_se) or abs(on_main_scale) > MATERIAL_SHARE * main_se
        fails = significant and material
        rows.append({"kind": kind, "control": name, "estimate": float(value), "std_error": float(se),
                     "ci_low": float(low), "ci_high": float(high), "on_main_scale": float(on_main_scale),
                     "in_main_se": on_main_scale / main_se if main_se else math.nan, "significant": significant,
                     "material": bool(material), "verdict": "fail" if fails else "pass"})
        if fails:
            failures.append(name)
    worst = max(rows, key=lambda r: abs(r["on_main_scale"]))
    return refutation_of(refuter, estimate, spec, new_effect=worst["estimate"], new_effect_sd=worst["std_error"],
                         p_value=None, passed=not failures, verdict="fail" if failures else "pass",
                         simulations=len(rows), interval_low=worst["ci_low"], interval_high=worst["ci_high"],
                         details={"controls": rows, "critical_z": critical, "skipped": skipped, "failed_controls": failures,
                                  "main_std_error": main_se})


NEGATIVE_CONTROL = RefuterSpec(
    "bias", "detects hidden confounding that also moves a declared control outcome or exposure; cannot detect "
    "confounding the controls do not share, nor bias from the model's form", NEGATIVE_CONTROL_RULE, _plan, _swap,
    _conclusion)
