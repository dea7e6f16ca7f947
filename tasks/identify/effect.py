"""Identification: which adjustment set (or other strategy) the graph licenses, found by d-separation."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import networkx as nx

from tasks.graph.model import CausalGraph, observed_nodes, without_out_edges
from tasks.identify.strategies import find_frontdoor, find_instruments, rdd_status
from whyflow.errors import IdentificationError
from whyflow.spec import AnalysisSpec

__all__ = ["Identification", "identify_effect", "adjustment_sets", "iv_controls", "proxy_adjustment"]

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
    iv_controls: list[str] | None = None  # covariates given which the used instruments are valid
    proxies: list[str] | None = None  # the proxy design: noisy children of the latent confounder
    proxy_adjustment: list[str] | None = None  # observed covariates the latent-variable model adjusts for besides

    def to_json(self) -> dict:
        return asdict(self)


def adjustment_sets(dag: nx.DiGraph, treatment: str, outcome: str) -> tuple[list[str] | None, list[str] | None]:
    """(preferred, minimal) valid back-door sets of observed variables, or (None, None).

    Preferred: the observed causes of the outcome that are not descendants of the treatment;
    it leaves out pure instruments (which only inflate variance) and is checked by d-separation
    in the graph without the treatment's out-edges. Minimal: a smallest d-separator, used when
    latent variables make the preferred set invalid.
    """
    cut = without_out_edges(dag, [treatment])
    forbidden = nx.descendants(dag, treatment) | {treatment, outcome}
    observed = observed_nodes(dag) - forbidden
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
    found = find_instruments(graph.dag, spec.treatment, spec.outcome)
    instruments = [i.name for i in found]
    frontdoor = find_frontdoor(graph.dag, spec.treatment, spec.outcome)
    rdd = rdd_status(graph.dag, spec.treatment, spec.running_variable)[0]
    invalid = sorted(set(spec.instruments) - set(instruments))
    if invalid:
        log.warning("declared instrument(s) %s are not instruments in graph %r (they reach %r other than "
                    "through %r)", invalid, graph.source, spec.outcome, spec.treatment)
    controls = (iv_controls(graph.dag, spec.treatment, spec.outcome, [i for i in found if i.name in spec.instruments])
                if spec.instruments else None)
    seconds = time.perf_counter() - started
    common = {"backdoor_minimal": minimal, "instruments": instruments, "frontdoor": frontdoor,
              "latent": graph.latent, "seconds": seconds, "iv_controls": controls}
    if backdoor is None:
        # Without a back-door set, a declared design (instruments, running variable) or a front-door
        # set the graph licenses still identifies the effect; the back-door estimators then refuse.
        alternative = ("rdd" if rdd and spec.running_variable else "iv" if spec.instruments and not invalid
                       else "frontdoor" if frontdoor else "proxy" if spec.proxies else None)
        if alternative == "proxy":
            adjustment = proxy_adjustment(graph, spec)
            log.info("no back-door set; the latent confounder is seen through proxies %s (adjusting also for %s)",
                     spec.proxies, adjustment)
            return Identification(strategy="proxy", backdoor=None, estimand=_ALTERNATIVE["proxy"],
                                  proxies=list(spec.proxies), proxy_adjustment=adjustment, **common)
        if alternative is not None:
            log.info("no back-door set; identified by %s in %.3f s", alternative, seconds)
            return Identification(strategy=alternative, backdoor=None, estimand=_ALTERNATIVE[alternative], **common)
        remaining = [name for name, ok in (("instrumental variables", instruments), ("front-door", frontdoor),
                                           ("regression discontinuity", rdd)) if ok]
        hint = (f"; strategies that remain: {', '.join(remaining)} (declare 'instruments' or 'running_variable' "
                "and 'cutoff' to use them)" if remaining else "")
        if invalid:
            hint += f"; declared instrument(s) {invalid} are not instruments in this graph"
        blockers = f" (latent: {', '.join(graph.latent)})" if graph.latent else ""
        raise IdentificationError(
            f"analysis '{spec.name}': the effect of {spec.treatment!r} on {spec.outcome!r} is not identified by "
            f"back-door adjustment in graph {graph.source!r}{blockers}{hint}; whyflow needs a back-door set, declared "
            "instruments, a running variable and cutoff, or a front-door set"
        )
    given = f"|{','.join(backdoor)}" if backdoor else ""  # DoWhy's printed form of the back-door estimand
    expression = f"Derivative(Expectation({spec.outcome}{given}), [{spec.treatment}])"
    log.info("identified by back-door adjustment for %s in %.3f s", backdoor, seconds)
    return Identification(strategy="backdoor", backdoor=backdoor, estimand=expression, **common)


_ALTERNATIVE = {
    "iv": "instrumental variables: Cov(Y, Z | W) / Cov(T, Z | W)",
    "rdd": "regression discontinuity: jump of E[Y | R] at the cutoff",
    "frontdoor": "front-door: sum_m P(m | t) sum_t' E[Y | m, t'] P(t')",
    "proxy": "latent confounder z seen through proxies: E_z[E(Y | t, z, W)] with p(z | proxies, W) from a "
             "latent-variable model (identified only if the proxies pin z down; Louizos et al. 2017)",
}


def proxy_adjustment(graph: CausalGraph, spec: AnalysisSpec) -> list[str]:
    """The observed part of the back-door set that would hold if the latent confounders were measured:
    what the latent-variable model adjusts for besides z. Refuses proxies the graph does not make
    children of a latent node that confounds the treatment and the outcome."""
    dag, latent = graph.dag, set(graph.latent)
    absent = [p for p in spec.proxies if p not in dag]
    if absent:
        raise IdentificationError(f"analysis '{spec.name}': proxies {absent} are not nodes of graph {graph.source!r}")
    confounders = {u for u in latent if nx.has_path(dag, u, spec.treatment) and nx.has_path(dag, u, spec.outcome)}
    orphans = [p for p in spec.proxies if not set(dag.predecessors(p)) & confounders]
    if orphans:
        raise IdentificationError(
            f"analysis '{spec.name}': proxies {orphans} have no latent parent that causes both {spec.treatment!r} "
            f"and {spec.outcome!r} in graph {graph.source!r}; expected each proxy to be a child of the hidden "
            "confounder (mark it latent in the graph)")
    cut = without_out_edges(dag, [spec.treatment])
    visible = (observed_nodes(dag) | latent) - nx.descendants(dag, spec.treatment) - {spec.treatment, spec.outcome}
    if not nx.is_d_separator(cut, {spec.treatment}, {spec.outcome}, visible):
        raise IdentificationError(
            f"analysis '{spec.name}': even with the latent confounders measured, graph {graph.source!r} leaves a "
            f"back-door path from {spec.treatment!r} to {spec.outcome!r} open; proxies cannot stand in for it")
    return sorted((nx.ancestors(cut, spec.outcome) & observed_nodes(dag)) - nx.descendants(dag, spec.treatment)
                  - {spec.treatment, spec.outcome} - set(spec.proxies))


def iv_controls(dag: nx.DiGraph, treatment: str, outcome: str, instruments: list) -> list[str]:
    """Covariates for IV estimation: the observed pre-treatment causes of the outcome (they sharpen the
    estimate), kept only if every instrument stays d-separated from the outcome given them in the graph
    without the treatment's out-edges; else the union of the instruments' own conditioning sets."""
    names = {i.name for i in instruments}
    needed = set().union(*(set(i.conditioning) for i in instruments)) if instruments else set()
    cut = without_out_edges(dag, [treatment])
    observed = observed_nodes(dag)
    pre = observed - nx.descendants(dag, treatment) - {treatment, outcome} - names
    wide = (nx.ancestors(cut, outcome) & pre) | needed
    if names and nx.is_d_separator(cut, names, {outcome}, wide):
        return sorted(wide)
    return sorted(needed)
