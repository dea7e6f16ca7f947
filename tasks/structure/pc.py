"""Structure suggestions: causal-learn's PC on a seeded subsample, shown as a diff against the user's graph.

Advisory only: discovery never replaces the analyst's graph. PC (Spirtes, Glymour & Scheines 2000)
runs with whyflow's linear CI test (tasks/ci_tests.py), plugged into causal-learn as a registered
test so that a categorical column enters as one block of dummies instead of arbitrary integer codes.
Pairs that the user's graph joins through a latent variable are not suggested as missing edges.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from tasks.graph.independence import LinearCI
from tasks.graph.encode import complete_rows, seeded_sample
from tasks.graph.model import CausalGraph, check_columns
from tasks.graph.implications import implied_independences

__all__ = ["StructureSuggestion", "suggest_structure", "DISCOVERY_ROWS"]

log = logging.getLogger(__name__)
DISCOVERY_ROWS = 5_000
_TEST_NAME = "whyflow_linear_blocks"


@dataclass(frozen=True)
class StructureSuggestion:
    method: str
    alpha: float
    rows: int
    seed: int
    add: list[tuple[str, str, str]]  # (a, b, "->" | "--" | "<->"): adjacent in the data, not in the graph
    remove: list[tuple[str, str, list[str]]]  # (a, b, separating set): a graph edge the data finds no support for
    reverse: list[tuple[str, str]]  # graph a -> b that PC orients b -> a
    agree: int  # graph edges among observed nodes that PC also finds adjacent
    discovered: list[tuple[str, str, str]]
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)


def _ci_test_class():
    """causal-learn's CI-test interface around LinearCI; registered once under one name."""
    from causallearn.utils.cit import CIT_Base, _custom_ci_tests, register_ci_test

    if _TEST_NAME in _custom_ci_tests:
        return _custom_ci_tests[_TEST_NAME]

    class LinearBlocks(CIT_Base):
        def __init__(self, data, tester: LinearCI, columns: list[str], **kwargs):
            super().__init__(data, **kwargs)
            self.check_cache_method_consistent(_TEST_NAME, "linear")
            self.tester, self.columns = tester, columns

        def __call__(self, X, Y, condition_set=None):
            xs, ys, given, key = self.get_formatted_XYZ_and_cachekey(X, Y, condition_set)
            if key not in self.pvalue_cache:
                p = self.tester.p_value(self.columns[xs[0]], self.columns[ys[0]],
                                        tuple(self.columns[i] for i in given))
                self.pvalue_cache[key] = 1.0 if p is None else p
            return self.pvalue_cache[key]

    return register_ci_test(_TEST_NAME, LinearBlocks)


def _pc_edges(adjacency: np.ndarray, columns: list[str]) -> dict[frozenset, tuple[str, str, str]]:
    """causal-learn's endpoint matrix as {pair: (a, b, kind)}: G[j,i]=1 & G[i,j]=-1 means i -> j."""
    edges = {}
    for i, j in zip(*np.nonzero(np.triu(adjacency != 0, k=1))):
        a, b = columns[i], columns[j]
        mark_ij, mark_ji = adjacency[i, j], adjacency[j, i]
        if mark_ij == -1 and mark_ji == 1:
            edges[frozenset((a, b))] = (a, b, "->")
        elif mark_ij == 1 and mark_ji == -1:
            edges[frozenset((a, b))] = (b, a, "->")
        else:
            edges[frozenset((a, b))] = (a, b, "--" if mark_ij == -1 else "<->")
    return edges


def _separating_set(sepsets, columns: list[str], i: int, j: int) -> list[str]:
    found = sepsets[i, j] if sepsets is not None else None
    if not found:
        return []
    first = next(iter(found))
    return sorted(columns[k] for k in (first if isinstance(first, (tuple, list)) else found))


def suggest_structure(graph: CausalGraph, frame: pd.DataFrame, *, seed: int, alpha: float = 0.01,
                      rows: int = DISCOVERY_ROWS, categorical: tuple[str, ...] = ()) -> StructureSuggestion:
    """Run PC on the graph's observed columns and diff its adjacencies and orientations with the graph."""
    from causallearn.search.ConstraintBased.PC import pc

    started = time.perf_counter()
    check_columns(graph, list(frame.columns))
    columns = graph.observed
    data = seeded_sample(complete_rows(frame, columns), rows, seed)
    tester = LinearCI(data, columns, tuple(categorical))
    placeholder = np.arange(len(data) * len(columns), dtype=float).reshape(len(data), len(columns))
    _ci_test_class()
    with contextlib.redirect_stdout(io.StringIO()):  # causal-learn prints orientation conflicts
        found = pc(placeholder, alpha, _TEST_NAME, stable=True, show_progress=False, node_names=columns,
                   tester=tester, columns=columns)
    discovered = _pc_edges(found.G.graph, columns)
    dag = graph.dag
    _, latent_pairs = implied_independences(dag)
    explained = {frozenset(p) for p in latent_pairs}
    user = {frozenset((a, b)): (a, b) for a, b in dag.edges if a in set(columns) and b in set(columns)}
    add = sorted(e for pair, e in discovered.items() if pair not in user and pair not in explained)
    index = {c: k for k, c in enumerate(columns)}
    remove = sorted((a, b, _separating_set(found.sepset, columns, index[a], index[b]))
                    for pair, (a, b) in user.items() if pair not in discovered)
    reverse = sorted((a, b) for pair, (a, b) in user.items()
                     if pair in discovered and discovered[pair] == (b, a, "->"))
    agree = sum(pair in discovered for pair in user)
    log.info("PC on %d rows: %d edges to add, %d to remove, %d to reverse", len(data), len(add), len(remove),
             len(reverse))
    return StructureSuggestion(method="pc", alpha=alpha, rows=len(data), seed=seed, add=add, remove=remove,
                               reverse=reverse, agree=agree, discovered=sorted(discovered.values()),
                               seconds=time.perf_counter() - started)
