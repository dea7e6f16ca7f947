"""Is the mediation decomposition identified by the graph? Sequential ignorability checked by d-separation.

Natural direct and indirect effects of T on Y through the mediator set M are identified given
observed pre-treatment C when (Pearl 2001; Imai, Keele & Yamamoto 2010; VanderWeele 2015, sec. 2.16):
  1. no member of C is a descendant of T;
  2. C blocks every back-door path T - Y, and 3. T - M  (d-separation with T's out-edges removed);
  4. C and T block every back-door path M - Y (with the mediators' out-edges removed).
A mediator-outcome confounder that T itself affects (T -> L -> M, L -> Y) breaks 4 for natural
effects whatever C is (the "recanting witness", Avin, Shpitser & Pearl 2005). If adding such
observed L to the conditioning set closes the M - Y back doors, the interventional (randomised-
analogue) effects of VanderWeele, Vansteelandt & Robins (2014) are identified and reported instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import networkx as nx

from tasks.graph import CausalGraph
from tasks.mediation.inputs import MediationInputError

__all__ = ["MediationIdentification", "identify_mediation", "assumed_identification"]


@dataclass(frozen=True)
class MediationIdentification:
    identified: bool
    effects: str | None  # "natural", "interventional" or None when not identified
    confounders: list[str]  # C
    treatment_induced: list[str]  # L: mediator-outcome confounders that the treatment affects
    mediator_order: list[str]  # mediators in causal (topological) order
    checked: bool  # False when no graph was given and the conditions are assumed
    reason: str

    def to_json(self) -> dict:
        return asdict(self)


def _cut(dag: nx.DiGraph, sources: Sequence[str]) -> nx.DiGraph:
    """The graph without the out-edges of `sources`: only back-door paths remain."""
    cut = dag.copy()
    cut.remove_edges_from([(a, b) for a in sources for b in list(dag.successors(a))])
    return cut


def _separated(dag: nx.DiGraph, x: set[str], y: set[str], given: set[str]) -> bool:
    return nx.is_d_separator(dag, x, y, given)


def _braces(names) -> str:
    return "{" + ", ".join(sorted(names)) + "}"


def _failure(dag: nx.DiGraph, t: str, y: str, mediators: list[str], given: set[str]) -> str | None:
    """The first sequential-ignorability condition that `given` violates, in words; None if all hold."""
    descendants = nx.descendants(dag, t)
    bad = sorted(set(given) & descendants)
    if bad:
        return f"{_braces(bad)} in the confounder set are affected by the treatment {t!r}"
    cut_t = _cut(dag, [t])
    if not _separated(cut_t, {t}, {y}, given):
        return f"{_braces(given)} leaves a back-door path between {t!r} and {y!r} open"
    if not _separated(cut_t, {t}, set(mediators), given):
        return f"{_braces(given)} leaves a back-door path between {t!r} and the mediators open"
    if not _separated(_cut(dag, mediators), set(mediators), {y}, given | {t}):
        return f"{_braces(given | {t})} leaves a back-door path between the mediators and {y!r} open"
    return None


def _check_roles(graph: CausalGraph, t: str, y: str, mediators: list[str], confounders: list[str] | None) -> None:
    dag = graph.dag
    for role, names in (("treatment", [t]), ("outcome", [y]), ("mediators", mediators),
                        ("confounders", confounders or [])):
        for name in names:
            if name not in dag:
                raise MediationInputError(f"`{role}` node {name!r} is not in graph {graph.source!r}")
            if dag.nodes[name].get("latent"):
                raise MediationInputError(f"`{role}` node {name!r} must be observed; graph {graph.source!r} "
                                          "marks it latent")
    if not mediators:
        raise MediationInputError("`mediators` must name at least one node; got none")
    outside = [m for m in mediators if m not in nx.descendants(dag, t)]
    if outside:
        raise MediationInputError(f"mediator {outside[0]!r} must be a descendant of the treatment {t!r} in "
                                  f"graph {graph.source!r}; it is not")
    if y not in nx.descendants(dag, t):
        raise MediationInputError(f"outcome {y!r} must be a descendant of the treatment {t!r} in graph "
                                  f"{graph.source!r}; it is not")


def identify_mediation(graph: CausalGraph, treatment: str, outcome: str, mediators: Sequence[str],
                       confounders: Sequence[str] | None = None) -> MediationIdentification:
    """Check the declared confounders (or find a set: the observed non-descendants of T that are
    ancestors of T, M or Y) and, failing natural effects, look for interventional ones."""
    mediators = list(mediators)
    declared = None if confounders is None else list(confounders)
    _check_roles(graph, treatment, outcome, mediators, declared)
    dag = graph.dag
    order = [n for n in nx.lexicographical_topological_sort(dag) if n in set(mediators)]
    roles = {treatment, outcome, *mediators}
    descendants = nx.descendants(dag, treatment)
    relevant = set().union(*(nx.ancestors(dag, n) for n in roles))
    candidate = {n for n in relevant - roles - descendants if not dag.nodes[n].get("latent")}
    given = set(declared) if declared is not None else candidate
    problem = _failure(dag, treatment, outcome, mediators, given)
    unexplained = [m for m in mediators if outcome not in nx.descendants(dag, m)]
    note = (f"; {_braces(unexplained)} do not lead to {outcome!r}, so they carry no indirect effect"
            if unexplained else "")
    if problem is None:
        return MediationIdentification(True, "natural", sorted(given), [], order, True,
                                       f"natural effects identified given {_braces(given)}: it blocks the "
                                       f"back doors of treatment-outcome, treatment-mediator and (with the "
                                       f"treatment) mediator-outcome{note}")
    if declared is not None and _failure(dag, treatment, outcome, mediators, candidate) is None:
        return MediationIdentification(False, None, sorted(given), [], order, True,
                                       f"not identified with the declared confounders: {problem}; "
                                       f"{_braces(candidate)} would identify natural effects")
    # treatment-induced mediator-outcome confounders: observed descendants of T, not of any mediator
    downstream = set(mediators).union(*(nx.descendants(dag, m) for m in mediators))
    induced = {n for n in descendants - downstream - roles if not dag.nodes[n].get("latent")
               and n in relevant}
    cut_t = _cut(dag, [treatment])
    pre_treatment_ok = (not given & descendants and _separated(cut_t, {treatment}, {outcome}, given)
                        and _separated(cut_t, {treatment}, set(mediators) | induced, given))
    closes = bool(induced) and _separated(_cut(dag, mediators), set(mediators), {outcome},
                                          given | induced | {treatment})
    if pre_treatment_ok and closes:
        confounding = sorted(n for n in induced if set(mediators) & nx.descendants(dag, n)
                             and outcome in nx.descendants(dag, n))
        return MediationIdentification(True, "interventional", sorted(given), sorted(induced), order, True,
                                       f"natural direct and indirect effects are NOT identified: "
                                       f"{_braces(confounding or induced)} confound(s) mediator and outcome and "
                                       f"is affected by the treatment {treatment!r}; interventional "
                                       f"(randomised-analogue) effects are identified given {_braces(given)} "
                                       f"and, for the mediator-outcome relation, {_braces(induced)}")
    return MediationIdentification(False, None, sorted(given), [], order, True,
                                   f"not identified: {problem}")


def assumed_identification(mediators: Sequence[str], confounders: Sequence[str]) -> MediationIdentification:
    """Without a graph nothing can be checked: sequential ignorability given C is an assumption."""
    return MediationIdentification(True, "natural", sorted(confounders), [], list(mediators), False,
                                   f"no graph: natural effects assume sequential ignorability given "
                                   f"{_braces(confounders)} (no unmeasured treatment-outcome, treatment-mediator "
                                   f"or mediator-outcome confounding, and no mediator-outcome confounder "
                                   f"affected by the treatment); not checked; mediators in the order listed")
