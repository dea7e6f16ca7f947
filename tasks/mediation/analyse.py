"""One entry point: identify, estimate (regression, cross-fitted DR), decompose paths, assess sensitivity."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from tasks.graph import CausalGraph
from tasks.mediation.dml import NUISANCES, dml_mediation
from tasks.mediation.effects import Decomposition, effect_from_influence
from tasks.mediation.identify import MediationIdentification, assumed_identification, identify_mediation
from tasks.mediation.inputs import MediationData, MediationInputError, prepare_inputs
from tasks.mediation.regression import regression_mediation
from tasks.mediation.sensitivity import rho_sensitivity

__all__ = ["analyse_mediation", "MediationReport", "EstimatorOutcome", "mediation_metrics", "ESTIMATORS"]

log = logging.getLogger(__name__)

CI_METHODS = {
    "regression": "95% Wald; delta method on stacked OLS influence functions (sandwich)",
    "dml": "95% Wald; influence-function (efficient score) variance, 5-fold cross-fitting",
}
ESTIMATORS = tuple(CI_METHODS)


@dataclass(frozen=True)
class EstimatorOutcome:
    name: str
    status: str  # "ok", "skipped" or "failed"
    effects: str | None = None  # "natural" or "interventional"
    decomposition: Decomposition | None = None
    paths: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    details: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        body = {"status": self.status, "effects": self.effects, "seconds": self.seconds, "error": self.error}
        if self.decomposition is not None:
            d = self.decomposition
            body.update(d.to_json())
            body["std_errors"] = {"nde": d.nde.std_error, "nie": d.nie.std_error, "total": d.total.std_error}
            body["ci_method"] = CI_METHODS[self.name]
        body["paths"] = self.paths
        body.update(self.details)
        return body


@dataclass(frozen=True)
class MediationReport:
    treatment: str
    outcome: str
    mediators: list[str]
    n: int
    seed: int
    identification: MediationIdentification
    estimators: dict[str, EstimatorOutcome]
    sensitivity: dict

    def to_json(self) -> dict:
        return {"treatment": self.treatment, "outcome": self.outcome, "mediators": self.mediators,
                "confounders": self.identification.confounders,
                "treatment_induced": self.identification.treatment_induced, "n": self.n, "seed": self.seed,
                "identification": self.identification.to_json(),
                "estimators": {name: outcome.to_json() for name, outcome in self.estimators.items()},
                "sensitivity": self.sensitivity}


def mediation_metrics(report: MediationReport) -> dict[str, float]:
    """MLflow metrics named as DESIGN.md says: mediation.nde.<E>, mediation.nie.<E> (and total)."""
    metrics = {}
    for name, outcome in report.estimators.items():
        if outcome.decomposition is not None:
            for part in ("nde", "nie", "total"):
                metrics[f"mediation.{part}.{name}"] = getattr(outcome.decomposition, part).estimate
    return metrics


def _paths(decompositions: list[Decomposition], order: list[str], treatment: str, outcome: str) -> list[dict]:
    """Path-specific effects from nested mediator sets S_k = order[:k] (Daniel et al. 2015, Biometrics;
    Steen et al. 2017): via order[k] but not earlier mediators = NDE(S_{k-1}) - NDE(S_k); direct = NDE(S_K).
    The first path is TE - NDE(S_1), so the paths add up to the reported total."""
    full = decompositions[-1]
    ndes = [(full.total.estimate, full.influence["total"])] + [(d.nde.estimate, d.influence["nde"])
                                                               for d in decompositions]
    rows = []
    for k, mediator in enumerate(order):
        (before, before_if), (after, after_if) = ndes[k], ndes[k + 1]
        effect = effect_from_influence(before - after, before_if - after_if)
        later = " (and on through later mediators)" if k < len(order) - 1 else ""
        rows.append({"path": f"{treatment} -> {mediator} -> ... -> {outcome}{later}", "via": mediator,
                     **effect.to_json()})
    direct = decompositions[-1].nde
    rows.append({"path": f"{treatment} -> {outcome}", "via": None, **direct.to_json()})
    return rows


def _run(name: str, data: MediationData, ident: MediationIdentification, roles: tuple[str, str],
         seed: np.random.SeedSequence, nuisance: str, folds: int) -> EstimatorOutcome:
    started = time.perf_counter()
    if name == "dml" and ident.effects == "interventional":
        return EstimatorOutcome(name, "skipped", error="the cross-fitted DR estimator targets natural effects, "
                                                        "which the graph does not identify")

    def estimate(part: MediationData) -> Decomposition:
        if name == "regression":
            return regression_mediation(part)
        return dml_mediation(part, seed=seed, folds=int(folds), nuisance=nuisance)

    try:
        full = estimate(data)
        order = list(data.mediators)
        paths = []
        if len(order) > 1:
            nested = [estimate(data.with_mediators(order[:k])) for k in range(1, len(order))] + [full]
            paths = _paths(nested, order, *roles)
    except (np.linalg.LinAlgError, ValueError) as exc:  # a numerical failure is recorded, the others still run
        log.warning("mediation estimator %s failed: %s", name, exc)
        return EstimatorOutcome(name, "failed", seconds=time.perf_counter() - started, error=str(exc)[:300])
    details = {"nuisance": nuisance, "folds": folds} if name == "dml" else {}
    return EstimatorOutcome(name, "ok", ident.effects, full, paths, time.perf_counter() - started, None, details)


def analyse_mediation(frame: pd.DataFrame, *, treatment: str, outcome: str, mediators: Sequence[str],
                      confounders: Sequence[str] | None = None, categorical: Sequence[str] = (), seed: int = 0,
                      estimators: Sequence[str] = ESTIMATORS, graph: CausalGraph | None = None,
                      nuisance: str = "linear", folds: int = 5) -> MediationReport:
    """Natural direct/indirect effects of binary `treatment` on `outcome` through `mediators`.

    With a graph, identification is checked (and `confounders`, when None, found in it); without
    one it is assumed. Each estimator's failure is recorded, not raised; bad input raises a
    one-line MediationInputError (a ValueError)."""
    unknown = [e for e in ([estimators] if isinstance(estimators, str) else list(estimators)) if e not in ESTIMATORS]
    if unknown or not estimators:
        raise MediationInputError(f"`estimators` must be a non-empty list from {list(ESTIMATORS)}; got "
                                  f"{unknown or list(estimators)}")
    if nuisance not in NUISANCES:
        raise MediationInputError(f"`nuisance` must be one of {list(NUISANCES)}; got {nuisance!r}")
    if not isinstance(folds, (int, np.integer)) or isinstance(folds, bool) or folds < 2:
        raise MediationInputError(f"`folds` must be an integer >= 2; got {folds!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise MediationInputError(f"`seed` must be a non-negative integer; got {seed!r}")
    mediators = [mediators] if isinstance(mediators, str) else list(mediators)
    if graph is not None:
        ident = identify_mediation(graph, treatment, outcome, mediators, confounders)
    elif confounders is None:
        raise MediationInputError("`confounders` must be given when there is no `graph` to find them in; got None")
    else:
        ident = assumed_identification(mediators, list(confounders))
    data = prepare_inputs(frame, treatment=treatment, outcome=outcome, mediators=ident.mediator_order,
                          confounders=ident.confounders, treatment_induced=ident.treatment_induced,
                          categorical=categorical)
    names = [estimators] if isinstance(estimators, str) else list(dict.fromkeys(estimators))
    if not ident.identified:
        results = {name: EstimatorOutcome(name, "skipped", error=ident.reason) for name in names}
        return MediationReport(treatment, outcome, list(data.mediators), data.n, int(seed), ident, results,
                               {"status": "skipped", "reason": "not identified"})
    dml_seed = np.random.SeedSequence(int(seed)).spawn(1)[0]
    results = {name: _run(name, data, ident, (treatment, outcome), dml_seed, nuisance, folds) for name in names}
    return MediationReport(treatment, outcome, list(data.mediators), data.n, int(seed), ident, results,
                           rho_sensitivity(data))
