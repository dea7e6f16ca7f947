"""Evidence on streamed data: the refuters' verdicts and the sensitivity analysis from the statistics the
streaming passes summed (estimators/streaming/evidence.py), in the same records as an in-memory run.

placebo, data_subset and negative_control (outcome controls) are judged by the in-memory rules
(tasks/evidence/sanity.conclude_shift and tasks/evidence/negative_controls); the other refuters need
a refit per simulation on modified data and are recorded as not applicable at this scale, with the
reason (plasmode and dummy_outcome then run on a seeded subsample: tasks/scale/bias_sample.py). The
Cinelli-Hazlett analysis is exact: the OLS of Y on [1, D, W] and of D on [1, W] come from
the summed cross-products of [1, W, t, y], so its partial R2, robustness values and benchmark bounds
equal tasks/evidence/sensitivity.ols_sensitivity on the same rows up to rounding.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from estimators.base import Estimate
from estimators.streaming.evidence import EvidenceRequest
from tasks.evidence.negative_controls import NEGATIVE_CONTROL
from tasks.evidence.refutation import Refutation, refutation_of
from tasks.evidence.refute import REFUTERS
from tasks.evidence.sanity import conclude_shift
from tasks.evidence.sensitivity import (OlsSensitivity, SensitivityReport, benchmark_rows, group_r2, partial_r2,
                                        per_estimator, robustness_value)

__all__ = ["STREAMED_REFUTERS", "SUBSETS", "evidence_request", "streamed_refutations", "streamed_sensitivity",
           "gram_ols"]

STREAMED_REFUTERS = ("placebo", "data_subset", "negative_control")
SUBSETS = 5  # hash buckets: each subset leaves one out (80% of the rows, as the in-memory data_subset)
_NOT_STREAMED = ("not run on streamed data: it refits every simulation on modified rows (a pass per refit); "
                 "streamed checks are placebo, data_subset and negative_control; plasmode and dummy_outcome "
                 "run on a seeded in-memory subsample (tasks/scale/bias_sample.py)")


def evidence_request(spec, share: float) -> EvidenceRequest | None:
    """What the passes must sum for the spec's refuters (None: nothing)."""
    wanted = set(spec.refuters)
    request = EvidenceRequest(
        placebo=spec.refute_simulations if "placebo" in wanted else 0,
        subsets=SUBSETS if "data_subset" in wanted else 0,
        controls=tuple(spec.negative_controls.outcomes) if "negative_control" in wanted else (),
        seed=int(np.random.SeedSequence([spec.seed, 20]).generate_state(1)[0]), share=float(share))
    return request if request.active else None


def _fits(values) -> np.ndarray:
    return np.array([[v, math.nan, math.nan, math.nan] for v in values], dtype=float).reshape(-1, 4)


def _method(estimator: str) -> str:
    return estimator.removeprefix("stream_")


def _control_scales(result: dict, controls: tuple[str, ...]) -> list[float]:
    """SD(Y) / SD(control), as tasks/evidence/negative_controls (population SDs)."""
    G = result["moments"]["G"].sum(axis=0)
    n, iy = G[0, 0], G.shape[0] - 1
    sd_y = math.sqrt(max(G[iy, iy] / n - (G[0, iy] / n) ** 2, 0.0))
    moments = result["evidence"]["control_moments"]
    out = []
    for total, square in zip(moments["sum"], moments["sum_sq"]):
        sd = math.sqrt(max(square / n - (total / n) ** 2, 0.0))
        out.append(sd_y / sd if sd > 0 else math.nan)
    return out


def streamed_refutations(result: dict, estimates: list[Estimate], refuters: list[str],
                         exposures: list[str] = ()) -> list[Refutation]:
    """Refutation records for every refuter and successful estimate, from run_streaming's result."""
    evidence = result.get("evidence") or {}
    out: list[Refutation] = []
    for refuter in refuters:
        spec = REFUTERS[refuter]
        for estimate in (e for e in estimates if e.ok):
            method = _method(estimate.estimator)
            got = evidence.get(refuter, {}).get(method)
            if refuter not in STREAMED_REFUTERS:
                reason = _NOT_STREAMED
            elif got is None:
                reason = ("not computed for this estimator on streamed data (flexible nuisances, a continuous "
                          "treatment for the placebo, or no outcome control declared)")
            else:
                reason = None
            if reason is not None:
                out.append(refutation_of(refuter, estimate, spec, status="not_applicable", verdict="not_applicable",
                                         error=reason, details={"reason": reason, "streamed": True}))
                continue
            if refuter == "placebo":
                record = conclude_shift(refuter, spec, estimate, _fits(got), 0.0)
                how = "placebo treatments from seeded re-mixes of the unit hash (independent Bernoulli draws)"
            elif refuter == "data_subset":
                record = conclude_shift(refuter, spec, estimate, _fits(got), estimate.value)
                how = f"{len(got)} hash buckets, each subset leaving one out; regression refitted, DML/AIPW final stage re-solved"
            else:
                names = evidence["control_moments"]["names"]
                controls = [("outcome", name, scale) for name, scale in zip(names, _control_scales(result, names))]
                skipped = [{"kind": "exposure", "control": name, "reason": "exposure controls are not streamed "
                            "(a propensity model per exposure would need passes of its own)"} for name in exposures]
                fits = np.array([[v, se, math.nan, math.nan] for v, se in got], dtype=float)
                record = NEGATIVE_CONTROL.conclude(refuter, spec, estimate, fits, (controls, skipped))
                how = "outcome replaced by each control, estimators re-solved with their own nuisances, from the passes' sums"
            out.append(replace(record, details=record.details | {"streamed": how}))
    return out


def gram_ols(G: np.ndarray, columns: list[int], target: int) -> tuple[np.ndarray, np.ndarray, int]:
    """OLS of column `target` on `columns` from a Gram matrix: coefficients, classical covariance, dof."""
    from estimators.streaming.blocks import solve_spd
    from estimators.streaming.fit import inverse

    XX = G[np.ix_(columns, columns)]
    Xy = G[columns, target]
    beta = solve_spd(XX, Xy)
    n = G[0, 0]
    dof = int(round(n)) - len(columns)
    rss = G[target, target] - 2 * beta @ Xy + beta @ XX @ beta
    return beta, max(rss, 0.0) / dof * inverse(XX), dof


def streamed_sensitivity(result: dict, names: list[str], estimates: list[Estimate], treatment_type: str,
                         benchmark: str | None = None, multiples: tuple[float, ...] = (1.0, 2.0, 3.0),
                         alpha: float = 0.05) -> SensitivityReport:
    """tasks.evidence.sensitivity.analyse_sensitivity from the summed cross-products of [1, W, t, y]."""
    G = result["moments"]["G"].sum(axis=0)
    p = len(names)
    it, iy = p + 1, p + 2
    w_cols = list(range(1, p + 1))
    notes: list[str] = []
    ols = None
    roots = list(dict.fromkeys(n.split("=", 1)[0] for n in names))

    def group(root: str) -> list[int]:
        return [i for i, n in enumerate(names) if n == root or n.startswith(f"{root}=")]

    try:
        beta, cov, dof = gram_ols(G, [0, it, *w_cols], iy)
        estimate, se = float(beta[1]), float(math.sqrt(cov[1, 1]))
        t = estimate / se
        chosen = benchmark
        beta_d, cov_d, dof_d = gram_ols(G, [0, *w_cols], it)
        if chosen is None and roots:
            strength = {r: group_r2(beta_d, cov_d, [c + 1 for c in group(r)], dof_d) for r in roots}
            chosen = max(strength, key=strength.get)
            notes.append(f"benchmark covariate: {chosen} (most associated with the treatment; set "
                         f"sensitivity.benchmark to choose)")
        base = dict(estimate=estimate, se=se, t=t, dof=dof, r2yd_x=partial_r2(t, dof), rv_q1=robustness_value(t, dof),
                    rv_q1_alpha05=robustness_value(t, dof, alpha=alpha), benchmark=chosen)
        if chosen is None:
            ols = OlsSensitivity(**base)
        else:
            columns = group(chosen)
            if not columns:
                raise ValueError(f"benchmark covariate {chosen!r} is not in the adjustment set {names}")
            r2yxj = group_r2(beta, cov, [c + 2 for c in columns], dof)
            r2dxj = group_r2(beta_d, cov_d, [c + 1 for c in columns], dof_d)
            bounds = benchmark_rows(estimate, se, dof, r2dxj, r2yxj, chosen, multiples, alpha)
            ols = OlsSensitivity(**base, r2dxj_x=r2dxj, r2yxj_dx=r2yxj, bounds=bounds)
    except (np.linalg.LinAlgError, ValueError) as exc:
        notes.append(f"OLS sensitivity not computed: {exc}")
    binary_outcome = result["moments"]["y_nonbinary"] == 0
    arms = result["moments"]["G"]
    if binary_outcome:
        if treatment_type == "binary":
            scale = float(arms[0][0, iy] / arms[0][0, 0])
        else:
            scale = float(G[0, iy] / G[0, 0])
    else:
        parts = [arms[a] for a in (0, 1)] if treatment_type == "binary" else [G]
        ss = sum(P[iy, iy] - P[0, iy] ** 2 / P[0, 0] for P in parts if P[0, 0] > 0)
        scale = math.sqrt(ss / sum(P[0, 0] - 1 for P in parts if P[0, 0] > 0))
    if treatment_type != "binary":
        notes.append("continuous treatment: E-values are per unit of the treatment")
    dof = ols.dof if ols else int(G[0, 0]) - p - 2
    per = per_estimator(estimates, scale=scale, binary_outcome=binary_outcome, dof=dof)
    notes.append("computed from the streamed cross-products of [1, W, t, y] (exact, all rows)")
    return SensitivityReport(ols=ols, per_estimator=per, notes=notes)
