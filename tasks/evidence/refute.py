"""Refutation: re-estimate under changes that should (or should not) move the estimate.

placebo                 treatment replaced by a seeded permutation; the estimate should stand out of
                        the placebo distribution (pass when p < 0.05).
random_common_cause     an independent random covariate added to the adjustment set; the estimate
                        should not move (pass when p >= 0.05).
data_subset             re-estimated on random 80% subsets; the estimate should not move (p >= 0.05).
bootstrap               re-estimated on resamples with replacement; the estimate should sit inside the
                        bootstrap distribution (p >= 0.05); the interval is the 2.5-97.5% percentiles.
dummy_outcome           outcome replaced by a seeded permutation of itself, so the true effect is 0;
                        the dummy estimates should be centred at 0 (pass when p >= 0.05).
unobserved_common_cause a simulated confounder U left out of the adjustment, on a 3x3 grid of
                        strengths: corr(U, T) in UCC_TREATMENT and an effect on Y of UCC_OUTCOME
                        outcome SDs per SD of U, signed to push the estimate towards zero (the
                        harmful direction); the interval spans the grid's estimates, and the
                        estimate passes when no grid point flips its sign.

As in DoWhy, the p-value places the reference (the original estimate; 0 for dummy_outcome) in the
normal approximation of the refutation estimates. The refuters run whyflow's own estimators directly:
DoWhy's placebo and random-common-cause refuters took 27-30 s each at 1e5 rows here
(shared/measurements), and its add_unobserved_common_cause raised IndexError under numpy 2.4 (an
IndexError also reported in py-why/dowhy#1185, closed as stale), so the simulation is done here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Callable, NamedTuple

import numpy as np
from scipy import stats

from estimators import registry
from estimators.base import CausalData, Estimate
from whyflow.parallel import map_processes

__all__ = ["Refutation", "REFUTERS", "UCC_TREATMENT", "UCC_OUTCOME", "ucc_grid", "refute_estimates",
           "survivors", "check_refuters"]

log = logging.getLogger(__name__)
UCC_TREATMENT = (0.05, 0.1, 0.2)  # corr(U, T)
UCC_OUTCOME = (0.05, 0.1, 0.2)  # effect of one SD of U on Y, in SDs of Y


@dataclass(frozen=True)
class Refutation:
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

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("new_effect", "new_effect_sd", "p_value", "interval_low", "interval_high"):
            if isinstance(data[key], float) and not math.isfinite(data[key]):
                data[key] = None
        return data


def _placebo(data: CausalData, rng: np.random.Generator, index: int, direction: float) -> CausalData:
    return data.replace(T=rng.permutation(data.T))


def _random_common_cause(data: CausalData, rng: np.random.Generator, index: int, direction: float) -> CausalData:
    noise = rng.standard_normal((data.n, 1))
    return data.replace(covariates=np.hstack([data.covariates, noise]), covariate_names=[*data.covariate_names, "_random_common_cause"])


def _data_subset(data: CausalData, rng: np.random.Generator, index: int, direction: float) -> CausalData:
    rows = np.sort(rng.choice(data.n, size=int(0.8 * data.n), replace=False))
    return data.subset(rows)


def _bootstrap(data: CausalData, rng: np.random.Generator, index: int, direction: float) -> CausalData:
    return data.subset(np.sort(rng.integers(0, data.n, size=data.n)))


def _dummy_outcome(data: CausalData, rng: np.random.Generator, index: int, direction: float) -> CausalData:
    return data.replace(Y=rng.permutation(data.Y))


def ucc_grid() -> list[tuple[float, float]]:
    return [(kt, ky) for kt in UCC_TREATMENT for ky in UCC_OUTCOME]


def _unobserved_common_cause(data: CausalData, rng: np.random.Generator, index: int, direction: float) -> CausalData:
    """Y + direction ky SD(Y) U with U ~ N(0, 1) and corr(U, T) = kt; U is not adjusted for, so an OLS
    estimate moves by about direction ky SD(Y) kt / SD(T)."""
    kt, ky = ucc_grid()[index % len(ucc_grid())]
    t_std = (data.T - data.T.mean()) / (data.T.std() or 1.0)
    u = kt * t_std + math.sqrt(1 - kt**2) * rng.standard_normal(data.n)
    return data.replace(Y=data.Y + direction * ky * data.Y.std() * u)


class _Refuter(NamedTuple):
    transform: Callable[[CausalData, np.random.Generator, int, float], CausalData]
    kind: str  # "differ": estimate should differ; "same": should not move; "zero": centred at 0; "sign"
    simulations: int | None = None  # fixed count (a grid), else the spec's refute_simulations


REFUTERS: dict[str, _Refuter] = {
    "placebo": _Refuter(_placebo, "differ"),
    "random_common_cause": _Refuter(_random_common_cause, "same"),
    "data_subset": _Refuter(_data_subset, "same"),
    "bootstrap": _Refuter(_bootstrap, "same"),
    "dummy_outcome": _Refuter(_dummy_outcome, "zero"),
    "unobserved_common_cause": _Refuter(_unobserved_common_cause, "sign", len(UCC_TREATMENT) * len(UCC_OUTCOME)),
}
_CRITERIA = {"differ": "pass when p < 0.05 (the estimate stands out of the placebo distribution)",
             "same": "pass when p >= 0.05 (the estimate is inside the refutation distribution)",
             "zero": "pass when p >= 0.05 (the dummy-outcome estimates are centred at 0)",
             "sign": "pass when every simulated confounder keeps the estimate's sign"}


def _p_value(reference: float, effects: np.ndarray) -> float:
    sd = effects.std(ddof=1)
    if sd == 0:
        return 1.0 if np.isclose(reference, effects.mean()) else 0.0
    return float(2 * stats.norm.sf(abs(reference - effects.mean()) / sd))


def _simulate(job: tuple) -> list[float]:
    """Refutation estimates for a batch of simulations, each with its own seed."""
    refuter, name, estimand, data, seeds, indices, options, direction = job
    transform = REFUTERS[refuter].transform
    cls = registry.get(name)
    effects = []
    for seed, index in zip(seeds, indices):
        rng = np.random.default_rng(seed)
        child_seed = int(rng.integers(2**31 - 1))
        refit = cls(estimand=estimand, seed=child_seed, **(options or {})).fit(transform(data, rng, int(index), direction))
        if not refit.estimate_.ok:
            raise RuntimeError(refit.estimate_.error or refit.estimate_.status)
        effects.append(refit.estimate_.value)
    return effects


def _conclude(refuter: str, estimate: Estimate, effects: list[float], simulations: int) -> Refutation:
    kind = REFUTERS[refuter].kind
    values = np.asarray(effects)
    low, high = float(values.min()), float(values.max())
    p: float | None = None
    if kind == "sign":
        passed = (low > 0) if estimate.value > 0 else (high < 0)
    else:
        p = _p_value(0.0 if kind == "zero" else estimate.value, values)
        passed = p < 0.05 if kind == "differ" else p >= 0.05
        low, high = (float(q) for q in np.percentile(values, [2.5, 97.5]))
    return Refutation(refuter, estimate.estimator, estimate.value, float(values.mean()), float(values.std(ddof=1)),
                      p, bool(passed), simulations, interval_low=low, interval_high=high, criterion=_CRITERIA[kind])


def _failed(refuter: str, estimate: Estimate, simulations: int, exc: BaseException) -> Refutation:
    log.warning("refuter %s on %s failed: %s", refuter, estimate.estimator, exc)
    return Refutation(refuter, estimate.estimator, estimate.value, math.nan, math.nan, None, None,
                      simulations, status="failed", error=f"{type(exc).__name__}: {exc}",
                      criterion=_CRITERIA[REFUTERS[refuter].kind])


def _not_applicable(refuter: str, estimate: Estimate) -> Refutation | None:
    """A permuted treatment is no longer a step at the cutoff, so a sharp RD refuses every placebo refit;
    its placebo is the placebo cutoffs in the estimate's details, not a failure of the estimate."""
    from estimators import registry

    if refuter == "placebo" and "running_variable" in registry.get(estimate.estimator).requires:
        return Refutation(refuter, estimate.estimator, estimate.value, math.nan, math.nan, None, None, 0,
                          status="not_applicable", error="a regression discontinuity's placebo is its placebo "
                          "cutoffs (see the estimate's details), not a permuted treatment",
                          criterion=_CRITERIA[REFUTERS[refuter].kind])
    return None


def _towards_zero(estimate: Estimate) -> float:
    return -1.0 if estimate.value > 0 else 1.0


def _simulation_seeds(seed: int, simulations: int) -> list[np.random.SeedSequence]:
    return np.random.SeedSequence(seed).spawn(simulations)


def _count(refuter: str, simulations: int) -> int:
    return REFUTERS[refuter].simulations or simulations


def _safe_simulate(job: tuple) -> list[float] | BaseException:
    try:
        return _simulate(job)
    except Exception as exc:  # returned, so one failing batch does not sink the pool
        return exc


def refute_estimates(data: CausalData, estimates: list[Estimate], refuters: list[str], *, seed: int,
                     simulations: int, workers: int = 1, options: dict[str, dict] | None = None) -> list[Refutation]:
    """Every refuter against every successful estimate, each refit built with the estimator's own
    options. Each simulation has its own seed, derived from the spec's seed, so the results do not
    depend on how the work is split over processes."""
    pair_seeds = np.random.SeedSequence(seed).generate_state(len(refuters) * max(len(estimates), 1))
    pairs, jobs, owners, skipped = [], [], [], []
    for k, (refuter, estimate) in enumerate((r, e) for r in refuters for e in estimates):
        if not estimate.ok:
            continue
        if (refusal := _not_applicable(refuter, estimate)) is not None:
            skipped.append(refusal)
            continue
        count = _count(refuter, simulations)
        seeds = _simulation_seeds(int(pair_seeds[k]), count)
        for batch in np.array_split(np.arange(count), max(1, min(workers, count))):
            jobs.append((refuter, estimate.estimator, estimate.estimand, data, [seeds[i] for i in batch],
                         batch.tolist(), (options or {}).get(estimate.estimator), _towards_zero(estimate)))
            owners.append(len(pairs))
        pairs.append((refuter, estimate, count))
    outputs = map_processes(_safe_simulate, jobs, workers)
    collected: list[list[float] | BaseException] = [[] for _ in pairs]
    for owner, output in zip(owners, outputs):
        if isinstance(output, BaseException) or isinstance(collected[owner], BaseException):
            collected[owner] = output if isinstance(output, BaseException) else collected[owner]
        else:
            collected[owner].extend(output)
    return [_failed(r, e, n, got) if isinstance(got, BaseException) else _conclude(r, e, got, n)
            for (r, e, n), got in zip(pairs, collected)] + skipped


def survivors(estimates: list[Estimate], refutations: list[Refutation]) -> list[str]:
    """Estimators whose every refutation ran and passed."""
    names = []
    for estimate in estimates:
        mine = [r for r in refutations if r.estimator == estimate.estimator and r.status != "not_applicable"]
        if estimate.ok and mine and all(r.passed for r in mine):
            names.append(estimate.estimator)
    return names


def check_refuters(spec) -> None:
    """An unknown refuter name is a SpecError before any work."""
    from whyflow.errors import SpecError

    for name in spec.refuters:
        if name not in REFUTERS:
            raise SpecError(f"analysis '{spec.name}': unknown refuter {name!r} in 'refuters'; "
                            f"expected one of {sorted(REFUTERS)}")
