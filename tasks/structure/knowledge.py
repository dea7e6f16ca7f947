"""Prior knowledge for structure learning: forbidden edges, required edges and tiers.

A node in a later tier never causes one in an earlier tier; nodes in no tier are unconstrained by
tiers. Every method honours the same object: PC through causal-learn's BackgroundKnowledge
(`to_background_knowledge`), NOTEARS through bounds that pin forbidden weights at zero
(`forbidden_mask`). `role_tiers` derives tiers from the roles in the user's graph: what the graph
puts before the treatment, the treatment, what it puts after the treatment, and the outcome last,
so the outcome causes neither the treatment nor its confounders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import networkx as nx
import numpy as np

from whyflow.errors import GraphError

__all__ = ["PriorKnowledge", "parse_edge", "parse_tiers", "role_tiers", "KnowledgeError"]

_EDGE = re.compile(r"^\s*([^\s>-][^>]*?)\s*->\s*([^\s>-].*?)\s*$")


class KnowledgeError(GraphError, ValueError):
    """Bad prior knowledge: a ValueError for callers, a GraphError (exit 2) for the CLI."""


def parse_edge(text: str, option: str = "edge") -> tuple[str, str]:
    """'A->B' (spaces allowed) as ('A', 'B')."""
    match = _EDGE.match(str(text))
    if not match or match[1] == match[2]:
        raise KnowledgeError(f"`{option}` must look like A->B with two different nodes; got {text!r}")
    return match[1], match[2]


def parse_tiers(text: str) -> tuple[tuple[str, ...], ...]:
    """'a,b;c;d' as (('a', 'b'), ('c',), ('d',)): tiers separated by ';', nodes within by ','."""
    tiers = tuple(tuple(n.strip() for n in part.split(",") if n.strip()) for part in str(text).split(";"))
    if not tiers or any(not tier for tier in tiers):
        raise KnowledgeError(f"`tiers` must be node lists separated by ';' (e.g. \"a,b;c;d\"), none empty; "
                             f"got {text!r}")
    return tiers


@dataclass(frozen=True)
class PriorKnowledge:
    forbidden: frozenset[tuple[str, str]] = frozenset()
    required: frozenset[tuple[str, str]] = frozenset()
    tiers: tuple[tuple[str, ...], ...] = ()
    source: str = field(default="user", compare=False)  # "user", "roles" or "none", for the report

    @classmethod
    def build(cls, forbidden: Iterable = (), required: Iterable = (), tiers: Sequence[Sequence[str]] = (),
              source: str = "user") -> "PriorKnowledge":
        """From 'A->B' strings or (A, B) pairs and lists of tiers."""
        def pairs(items, option):
            return frozenset(parse_edge(i, option) if isinstance(i, str) else tuple(i) for i in items)
        return cls(pairs(forbidden, "forbid"), pairs(required, "require"), tuple(tuple(t) for t in tiers), source)

    @property
    def tier_of(self) -> dict[str, int]:
        return {node: k for k, tier in enumerate(self.tiers) for node in tier}

    @property
    def empty(self) -> bool:
        return not (self.forbidden or self.required or self.tiers)

    def forbids(self, a: str, b: str) -> bool:
        """Is a -> b excluded, by name or by tiers (b in an earlier tier than a)?"""
        tier = self.tier_of
        return (a, b) in self.forbidden or (a in tier and b in tier and tier[a] > tier[b])

    def check(self, nodes: Sequence[str]) -> "PriorKnowledge":
        """Every named node is a column; no node in two tiers; required edges are allowed and acyclic."""
        known = set(nodes)
        for option, edges in (("forbid", self.forbidden), ("require", self.required)):
            for a, b in sorted(edges):
                for node in (a, b):
                    if node not in known:
                        raise KnowledgeError(f"`{option}` edge {a}->{b} names {node!r}, which is not a node of the "
                                             f"data; nodes are {sorted(known)}")
        seen: dict[str, int] = {}
        for k, tier in enumerate(self.tiers):
            for node in tier:
                if node not in known:
                    raise KnowledgeError(f"`tiers` names {node!r}, which is not a node of the data; nodes are "
                                         f"{sorted(known)}")
                if node in seen:
                    raise KnowledgeError(f"`tiers` must place each node once; {node!r} is in tiers {seen[node] + 1} "
                                         f"and {k + 1}")
                seen[node] = k
        for a, b in sorted(self.required):
            if self.forbids(a, b):
                raise KnowledgeError(f"required edge {a}->{b} must not also be forbidden (by --forbid or tiers)")
        required = nx.DiGraph(list(self.required))
        if required.number_of_edges() and not nx.is_directed_acyclic_graph(required):
            cycle = [a for a, _ in nx.find_cycle(required)]
            raise KnowledgeError(f"required edges must not form a cycle; got {' -> '.join(cycle + [cycle[0]])}")
        return self

    def forbidden_mask(self, nodes: Sequence[str]) -> np.ndarray:
        """Boolean (d, d) matrix: True where the edge row -> column is excluded (and on the diagonal)."""
        mask = np.eye(len(nodes), dtype=bool)
        for i, a in enumerate(nodes):
            for j, b in enumerate(nodes):
                mask[i, j] |= self.forbids(a, b)
        return mask

    def to_background_knowledge(self, nodes: Sequence[str]):
        """causal-learn's BackgroundKnowledge over GraphNode(name) (it compares nodes by name)."""
        from causallearn.graph.GraphNode import GraphNode
        from causallearn.utils.PCUtils.BackgroundKnowledge import BackgroundKnowledge

        knowledge = BackgroundKnowledge()
        for a, b in sorted(self.forbidden):
            knowledge.add_forbidden_by_node(GraphNode(a), GraphNode(b))
        for a, b in sorted(self.required):
            knowledge.add_required_by_node(GraphNode(a), GraphNode(b))
        for k, tier in enumerate(self.tiers):
            for node in tier:
                if node in set(nodes):
                    knowledge.add_node_to_tier(GraphNode(node), k)
        return knowledge

    def to_json(self) -> dict:
        return {"source": self.source, "forbidden": sorted(self.forbidden), "required": sorted(self.required),
                "tiers": [list(t) for t in self.tiers]}


def role_tiers(dag: nx.DiGraph, treatment: str, outcome: str, nodes: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Tiers from the user's graph: before the treatment, the treatment, after it, the outcome."""
    for role, node in (("treatment", treatment), ("outcome", outcome)):
        if node not in set(nodes):
            raise KnowledgeError(f"`{role}` {node!r} must be an observed node of the data; nodes are {sorted(nodes)}")
    after = nx.descendants(dag, treatment) if treatment in dag else set()
    before = tuple(sorted(n for n in nodes if n not in after and n not in (treatment, outcome)))
    between = tuple(sorted(n for n in nodes if n in after and n != outcome))
    return tuple(t for t in (before, (treatment,), between, (outcome,)) if t)
