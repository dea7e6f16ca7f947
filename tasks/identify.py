"""Identification: which adjustment set (or other strategy) the graph licenses, found by d-separation."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import networkx as nx

from tasks.graph import CausalGraph
from tasks.strategies import find_frontdoor, find_instruments, rdd_status
from whyflow.errors import IdentificationError
from whyflow.spec import AnalysisSpec

__all__ = ["Identification", "identify_effect", "adjustment_sets"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identification:
    strategy: str
    backdoor: list[str] | None
    backdoor_minimal: list[str] | None
    instruments: list[str]
    frontdoor: list[str] | None
    latent: list[str]
    estimand: str
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)


def adjustment_sets(dag: nx.DiGraph, treatment: str, outcome: str) -> tuple[list[str] | None, list[str] | None]:
    """(preferred, minimal) valid back-door sets of observed variables, or (None, None).

    Preferred: the observed causes of the outcome that are not descendants of the treatment;
    it leaves out pure instruments (which only inflate variance) and is checked by d-separation
    in the graph without the treatment's out-edges. Minimal: a smallest d-separator, used when
    latent variables make the preferred set invalid.
    """
    cut = dag.copy()
    cut.remove_edges_from(list(dag.out_edges(treatment)))
    forbidden = nx.descendants(dag, treatment) | {treatment, outcome}
    observed = {n for n, d in dag.nodes(data=True) if not d.get("latent")} - forbidden
    minimal = nx.find_minimal_d_separator(cut, {treatment}, {outcome}, restricted=observed)
    if minimal is None:
        return None, None
    preferred = (nx.ancestors(cut, outcome) & observed)
    if not nx.is_d_separator(cut, {treatment}, {outcome}, preferred):
        preferred = set(minimal)
    return sorted(preferred), sorted(minimal)


def identify_effect(graph: CausalGraph, spec: AnalysisSpec) -> Identification:
    """Back-door sets, instruments and front-door by d-separation (tasks/strategies.py).

    DoWhy's default (exhaustive) back-door search grows exponentially with the number of
    covariates (11.7 s at 20 in shared/measurements), and its front-door search enumerates subsets
    too (past 120 s on two of ten random 200-node DAGs, bench/results/identify.md); these take milliseconds.
    """
    started = time.perf_counter()
    backdoor, minimal = adjustment_sets(graph.dag, spec.treatment, spec.outcome)
    instruments = [i.name for i in find_instruments(graph.dag, spec.treatment, spec.outcome)]
    frontdoor = find_frontdoor(graph.dag, spec.treatment, spec.outcome)
    seconds = time.perf_counter() - started
    if backdoor is None:
        rdd = rdd_status(graph.dag, spec.treatment, spec.running_variable)[0]
        remaining = [name for name, ok in (("instrumental variables", instruments), ("front-door", frontdoor),
                                           ("regression discontinuity", rdd)) if ok]
        hint = f"; strategies that remain: {', '.join(remaining)}" if remaining else ""
        blockers = f" (latent: {', '.join(graph.latent)})" if graph.latent else ""
        raise IdentificationError(
            f"analysis '{spec.name}': the effect of {spec.treatment!r} on {spec.outcome!r} is not identified by "
            f"back-door adjustment in graph {graph.source!r}{blockers}{hint}; whyflow estimates back-door effects"
        )
    given = f"|{','.join(backdoor)}" if backdoor else ""  # DoWhy's printed form of the back-door estimand
    expression = f"Derivative(Expectation({spec.outcome}{given}), [{spec.treatment}])"
    log.info("identified by back-door adjustment for %s in %.3f s", backdoor, seconds)
    return Identification(
        strategy="backdoor",
        backdoor=backdoor,
        backdoor_minimal=minimal,
        instruments=instruments,
        frontdoor=frontdoor,
        latent=graph.latent,
        estimand=expression,
        seconds=seconds,
    )
