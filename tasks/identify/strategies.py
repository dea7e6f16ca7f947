"""Identification strategies found by d-separation: back-door blockers, front-door sets, instruments.

Every search here is polynomial in the size of the graph (networkx reachability, d-separation and
minimal separators), where DoWhy enumerates subsets: its identification ran past 120 s on two of ten
random 200-node DAGs (bench/results/identify.md), and its back-door search is exponential in the
covariates; these searches took at most 0.06 s (median) on each of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from tasks.graph.model import observed_nodes, without_out_edges

__all__ = ["Instrument", "find_instruments", "find_frontdoor",
           "is_frontdoor_set", "latent_blockers", "rdd_status"]


@dataclass(frozen=True)
class Instrument:
    """A variable that moves the treatment and reaches the outcome only through it, given `conditioning`."""

    name: str
    conditioning: tuple[str, ...]  # empty: an unconditional instrument
    parent: bool  # a direct cause of the treatment (else a more distant one)


def find_instruments(dag: nx.DiGraph, treatment: str, outcome: str) -> list[Instrument]:
    """Observed causes Z of the treatment with Z independent of the outcome in the graph without the
    treatment's out-edges, unconditionally or given a minimal set W of observed non-descendants of
    the treatment (Pearl 2009, sec. 7.4.5; Brito & Pearl 2002), while Z stays d-connected to T given W.
    """
    observed = observed_nodes(dag)
    forbidden = nx.descendants(dag, treatment) | {treatment, outcome}
    controls = observed - forbidden
    cut = without_out_edges(dag, [treatment])
    parents = set(dag.predecessors(treatment))
    found = []
    for z in sorted(nx.ancestors(dag, treatment) & controls):
        if nx.is_d_separator(cut, {z}, {outcome}, set()):
            found.append(Instrument(z, (), z in parents))
            continue
        given = nx.find_minimal_d_separator(cut, {z}, {outcome}, restricted=controls - {z})
        if given is not None and not nx.is_d_separator(dag, {z}, {treatment}, set(given)):
            found.append(Instrument(z, tuple(sorted(given)), z in parents))
    return found


def is_frontdoor_set(dag: nx.DiGraph, treatment: str, outcome: str, mediators: set[str]) -> bool:
    """Pearl's front-door criterion (Causality, def. 3.3.3), each condition by d-separation:
    (i) the mediators intercept every directed path from T to Y; (ii) no back-door path from T to
    them is open; (iii) T blocks every back-door path from them to Y."""
    if not mediators or treatment in mediators or outcome in mediators:
        return False
    directed = dag.subgraph(set(dag) - set(mediators))
    if nx.has_path(directed, treatment, outcome):
        return False
    if not nx.is_d_separator(without_out_edges(dag, [treatment]), {treatment}, set(mediators), set()):
        return False
    return nx.is_d_separator(without_out_edges(dag, mediators), set(mediators), {outcome}, {treatment})


def _open_to_treatment(dag: nx.DiGraph, treatment: str) -> set[str]:
    """Nodes with an open back-door path from T given nothing: those sharing an ancestor with T
    once T's out-edges are cut (an unconditioned path is open iff it has no collider)."""
    cut = without_out_edges(dag, [treatment])
    roots = nx.ancestors(dag, treatment) | {treatment}
    reached = set(roots)
    for node in roots:
        reached |= nx.descendants(cut, node)
    return reached - {treatment}


def find_frontdoor(dag: nx.DiGraph, treatment: str, outcome: str) -> list[str] | None:
    """A minimal observed front-door set, or None when there is none.

    The largest set meeting (ii) and (iii) is found first: (ii) holds element-wise, and a variable
    violating (iii) keeps violating it in every subset, so violators are dropped until none is left.
    If that set fails (i), every set does (Jeong, Tian & Bareinboim 2022, sec. 3). It is then pruned
    to a minimal set, keeping the mediators closest to the treatment.
    """
    if outcome not in nx.descendants(dag, treatment):
        return None
    eligible = (observed_nodes(dag) & nx.descendants(dag, treatment)) - nx.descendants(dag, outcome) - {outcome}
    candidates = eligible - _open_to_treatment(dag, treatment)
    while candidates:
        cut = without_out_edges(dag, candidates)
        violators = {m for m in candidates if not nx.is_d_separator(cut, {m}, {outcome}, {treatment})}
        if not violators:
            break
        candidates -= violators
    if not is_frontdoor_set(dag, treatment, outcome, candidates):
        return None
    order = {n: i for i, n in enumerate(nx.topological_sort(dag))}
    chosen = set(candidates)
    for node in sorted(chosen, key=lambda n: (-order[n], n)):
        if is_frontdoor_set(dag, treatment, outcome, chosen - {node}):
            chosen.discard(node)
    return sorted(chosen)


def latent_blockers(dag: nx.DiGraph, treatment: str, outcome: str) -> list[str]:
    """The latent variables that keep a back-door path open: each one whose observation alone would
    allow adjustment, or else every latent ancestor of T or Y in the graph without T's out-edges."""
    latent = set(dag) - observed_nodes(dag)
    if not latent:
        return []
    cut = without_out_edges(dag, [treatment])
    forbidden = nx.descendants(dag, treatment) | {treatment, outcome}
    observed = observed_nodes(dag) - forbidden
    single = [u for u in sorted(latent - forbidden)
              if nx.find_minimal_d_separator(cut, {treatment}, {outcome}, restricted=observed | {u}) is not None]
    if single:
        return single
    return sorted(latent & (nx.ancestors(cut, treatment) | nx.ancestors(cut, outcome)))


def rdd_status(dag: nx.DiGraph, treatment: str, running_variable: str | None) -> tuple[bool, str]:
    """(applies, why): a regression discontinuity needs an observed running variable that causes T."""
    if running_variable is None:
        return False, "no running variable declared"
    if running_variable not in dag:
        return False, f"running variable {running_variable!r} is not a node of the graph"
    if dag.nodes[running_variable].get("latent"):
        return False, f"running variable {running_variable!r} is latent"
    if running_variable not in nx.ancestors(dag, treatment):
        return False, f"running variable {running_variable!r} is not a cause of {treatment!r} in the graph"
    return True, f"{treatment!r} is assigned by {running_variable!r} crossing the cutoff"
