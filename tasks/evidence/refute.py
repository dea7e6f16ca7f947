"""Refutation: re-estimate under changes with a known answer, and say honestly what each check can see.

sanity       placebo, random_common_cause, data_subset, bootstrap (tasks/evidence/sanity.py): catch a
             broken estimator; they cannot see confounding bias.
bias         plasmode, dummy_outcome (tasks/evidence/bias.py), negative_control
             (tasks/evidence/negative_controls.py): a known truth on the analysed data, or declared
             controls with a known zero effect.
sensitivity  unobserved_common_cause (tasks/evidence/hidden_confounder.py): a simulated hidden
             confounder in multiples of the strongest observed one.

Every verdict is about a change that matters (tasks/evidence/refutation.py). The refuters run
whyflow's own estimators: DoWhy's placebo and random-common-cause refuters took 27-30 s each at 1e5
rows here (shared/measurements), and its add_unobserved_common_cause raised IndexError under numpy
2.4 (py-why/dowhy#1185, closed as stale). Each simulation has its own seed from the spec's seed, and
work done once per call (the outcome surface, the benchmark confounder) is done here, before the
workers start, so results do not depend on the worker count.
"""

from __future__ import annotations

import logging

import numpy as np

from estimators import registry
from estimators.base import CausalData, Estimate
from tasks.evidence.bias import BIAS_REFUTERS
from tasks.evidence.evidence_summary import evidence_lines, summarize_evidence, survivors
from tasks.evidence.hidden_confounder import HIDDEN_CONFOUNDER, MULTIPLES
from tasks.evidence.negative_controls import NEGATIVE_CONTROL
from tasks.evidence.refutation import Plan, RefuteContext, RefuterSpec, Refutation, refutation_of
from tasks.evidence.sanity import SANITY_REFUTERS
from whyflow.parallel import map_processes

__all__ = ["Refutation", "REFUTERS", "MULTIPLES", "refute_estimates", "survivors", "summarize_evidence",
           "evidence_lines", "check_refuters"]

log = logging.getLogger(__name__)

REFUTERS: dict[str, RefuterSpec] = {
    **SANITY_REFUTERS,
    "dummy_outcome": BIAS_REFUTERS["dummy_outcome"],
    "unobserved_common_cause": HIDDEN_CONFOUNDER,
    "plasmode": BIAS_REFUTERS["plasmode"],
    "negative_control": NEGATIVE_CONTROL,
}


def _simulate(job: tuple) -> list[tuple[float, float, float, float]]:
    """(value, SE, CI low, CI high) of each refit in a batch, each with its own seed."""
    refuter, name, estimand, data, seeds, indices, options, context = job
    transform = REFUTERS[refuter].transform
    cls = registry.get(name)
    fits = []
    for seed, index in zip(seeds, indices):
        rng = np.random.default_rng(seed)
        child_seed = int(rng.integers(2**31 - 1))
        refit = cls(estimand=estimand, seed=child_seed, **(options or {})).fit(transform(data, rng, int(index), context))
        if not refit.estimate_.ok:
            raise RuntimeError(refit.estimate_.error or refit.estimate_.status)
        e = refit.estimate_
        fits.append((e.value, e.std_error, e.ci_low, e.ci_high))
    return fits


def _safe_simulate(job: tuple) -> list | BaseException:
    try:
        return _simulate(job)
    except Exception as exc:  # returned, so one failing batch does not sink the pool
        return exc


def _failed(refuter: str, estimate: Estimate, simulations: int, exc: BaseException) -> Refutation:
    log.warning("refuter %s on %s failed: %s", refuter, estimate.estimator, exc)
    return refutation_of(refuter, estimate, REFUTERS[refuter], simulations=simulations, status="failed",
                         verdict="failed", error=f"{type(exc).__name__}: {exc}")


def _not_applicable(refuter: str, estimate: Estimate, reason: str) -> Refutation:
    return refutation_of(refuter, estimate, REFUTERS[refuter], status="not_applicable", verdict="not_applicable",
                         error=reason, details={"reason": reason})


def _prepare(refuter: str, data: CausalData, estimate: Estimate, context: RefuteContext) -> Plan | Refutation:
    try:
        plan = REFUTERS[refuter].prepare(data, estimate, context)
    except Exception as exc:  # e.g. too few controls for the outcome surface: recorded, the others run
        return _failed(refuter, estimate, 0, exc)
    return _not_applicable(refuter, estimate, plan) if isinstance(plan, str) else plan


def refute_estimates(data: CausalData, estimates: list[Estimate], refuters: list[str], *, seed: int,
                     simulations: int, workers: int = 1, options: dict[str, dict] | None = None,
                     plasmode_effect: float | None = None) -> list[Refutation]:
    """Every refuter against every successful estimate, each refit built with the estimator's own
    options. `plasmode_effect`: the known effect tau* of the plasmode simulations (default: each
    estimator's own estimate; pass the headline's to check every estimator at one truth)."""
    context = RefuteContext(data, seed, simulations, plasmode_effect)
    pair_seeds = np.random.SeedSequence(seed).generate_state(len(refuters) * max(len(estimates), 1))
    pairs, jobs, owners, settled = [], [], [], []
    for k, (refuter, estimate) in enumerate((r, e) for r in refuters for e in estimates):
        if not estimate.ok:
            continue
        plan = _prepare(refuter, data, estimate, context)
        if isinstance(plan, Refutation):
            settled.append(plan)
            continue
        count = plan.count or simulations
        seeds = np.random.SeedSequence(int(pair_seeds[k])).spawn(count)
        for batch in np.array_split(np.arange(count), max(1, min(workers, count))):
            jobs.append((refuter, estimate.estimator, estimate.estimand, plan.data if plan.data is not None else data,
                         [seeds[i] for i in batch], batch.tolist(), (options or {}).get(estimate.estimator),
                         plan.context))
            owners.append(len(pairs))
        pairs.append((refuter, estimate, count, plan.context))
    outputs = map_processes(_safe_simulate, jobs, workers)
    collected: list[list | BaseException] = [[] for _ in pairs]
    for owner, output in zip(owners, outputs):
        if isinstance(collected[owner], BaseException):
            continue
        collected[owner] = output if isinstance(output, BaseException) else collected[owner] + output
    results = []
    for (refuter, estimate, count, plan_context), got in zip(pairs, collected):
        if isinstance(got, BaseException):
            results.append(_failed(refuter, estimate, count, got))
            continue
        try:
            spec = REFUTERS[refuter]
            results.append(spec.conclude(refuter, spec, estimate, np.asarray(got, dtype=float), plan_context))
        except Exception as exc:  # a conclusion that cannot be drawn is recorded, not raised
            results.append(_failed(refuter, estimate, count, exc))
    return results + settled


def check_refuters(spec) -> None:
    """An unknown refuter, or a negative_control without declared controls, is a SpecError before any work."""
    from whyflow.errors import SpecError
    from whyflow.suggest import did_you_mean

    for name in spec.refuters:
        if name not in REFUTERS:
            raise SpecError(f"analysis '{spec.name}': unknown refuter {name!r} in 'refuters'"
                            f"{did_you_mean(name, REFUTERS) or ';'} expected one of {sorted(REFUTERS)}")
    controls = getattr(spec, "negative_controls", None)
    declared = controls is not None and (list(controls.outcomes) or list(controls.exposures))
    if "negative_control" in spec.refuters and not declared:
        raise SpecError(f"analysis '{spec.name}': refuter 'negative_control' needs declared controls; set "
                        "'negative_controls: {outcomes: [...], exposures: [...]}'")
