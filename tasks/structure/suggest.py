"""Structure suggestions shown as a diff against the user's graph: PC or NOTEARS, under prior knowledge.

Advisory only: discovery never replaces the analyst's graph. Pairs that the user's graph joins
through a latent variable are not suggested as missing edges. With the treatment and outcome given
(and no tiers of the user's own), tiers come from the graph's roles (tasks/structure/knowledge.py),
so a method cannot point an edge out of the outcome into the treatment or its confounders.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Sequence

import pandas as pd

from tasks.graph.encode import complete_rows, seeded_sample
from tasks.graph.implications import implied_independences
from tasks.graph.model import CausalGraph, check_columns
from tasks.structure.knowledge import KnowledgeError, PriorKnowledge, role_tiers

__all__ = ["StructureSuggestion", "suggest_structure", "structure_knowledge", "DISCOVERY_ROWS", "METHODS"]

log = logging.getLogger(__name__)
DISCOVERY_ROWS = 5_000
METHODS = ("pc", "notears")


@dataclass(frozen=True)
class StructureSuggestion:
    method: str
    alpha: float | None  # PC's significance level; None for NOTEARS
    rows: int
    seed: int
    add: list[tuple[str, str, str]]  # (a, b, "->" | "--" | "<->"): adjacent in the data, not in the graph
    remove: list[tuple[str, str, list[str]]]  # (a, b, separating set): a graph edge the data finds no support for
    reverse: list[tuple[str, str]]  # graph a -> b that the method orients b -> a
    agree: int  # graph edges among observed nodes that the method also finds adjacent
    discovered: list[tuple[str, str, str]]
    seconds: float
    knowledge: dict = field(default_factory=dict)  # the constraints applied (PriorKnowledge.to_json)
    required_added: list[str] = field(default_factory=list)  # required edges the method did not find itself
    details: dict = field(default_factory=dict)  # method specifics (NOTEARS weights, iterations)

    def to_json(self) -> dict:
        return asdict(self)


def structure_knowledge(graph: CausalGraph, *, forbid: Sequence[str] = (), require: Sequence[str] = (),
                        tiers: Sequence[Sequence[str]] | None = None, treatment: str | None = None,
                        outcome: str | None = None) -> PriorKnowledge:
    """The user's constraints, with tiers from the graph's roles when treatment and outcome are given
    and no tiers are; checked against the graph's observed nodes."""
    nodes = graph.observed
    if (treatment is None) != (outcome is None):
        raise KnowledgeError("`treatment` and `outcome` must be given together to derive tiers from roles")
    source = "user" if (forbid or require or tiers) else "none"
    if tiers is None and treatment is not None:
        tiers, source = role_tiers(graph.dag, treatment, outcome, nodes), "roles" if source == "none" else "user+roles"
    knowledge = PriorKnowledge.build(forbid, require, tiers or (), source)
    return knowledge.check(nodes)


def suggest_structure(graph: CausalGraph, frame: pd.DataFrame, *, seed: int, method: str = "pc",
                      alpha: float = 0.01, rows: int = DISCOVERY_ROWS, categorical: tuple[str, ...] = (),
                      knowledge: PriorKnowledge | None = None) -> StructureSuggestion:
    """Run the method on the graph's observed columns and diff its adjacencies and orientations with the graph."""
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)}; got {method!r}")
    started = time.perf_counter()
    check_columns(graph, list(frame.columns))
    columns = graph.observed
    knowledge = (knowledge or PriorKnowledge(source="none")).check(columns)
    data = seeded_sample(complete_rows(frame, columns), rows, seed)
    if method == "pc":
        from tasks.structure.pc import run_pc

        discovered, separating, added = run_pc(data, columns, alpha=alpha, categorical=categorical,
                                               knowledge=knowledge)
        details = {}
    else:
        from tasks.structure.notears import run_notears

        discovered, details, _ = run_notears(data, columns, knowledge=knowledge, categorical=categorical)
        separating, added = {}, details.pop("required_below_threshold")
    dag = graph.dag
    _, latent_pairs = implied_independences(dag)
    explained = {frozenset(p) for p in latent_pairs}
    observed = set(columns)
    user = {frozenset((a, b)): (a, b) for a, b in dag.edges if a in observed and b in observed}
    add = sorted(e for pair, e in discovered.items() if pair not in user and pair not in explained)
    remove = sorted((a, b, separating.get(pair, [])) for pair, (a, b) in user.items() if pair not in discovered)
    reverse = sorted((a, b) for pair, (a, b) in user.items() if pair in discovered and discovered[pair] == (b, a, "->"))
    agree = sum(pair in discovered for pair in user)
    log.info("%s on %d rows: %d edges to add, %d to remove, %d to reverse", method, len(data), len(add),
             len(remove), len(reverse))
    return StructureSuggestion(method=method, alpha=alpha if method == "pc" else None, rows=len(data), seed=seed,
                               add=add, remove=remove, reverse=reverse, agree=agree,
                               discovered=sorted(discovered.values()), seconds=time.perf_counter() - started,
                               knowledge=knowledge.to_json(), required_added=added, details=details)
