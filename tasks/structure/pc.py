"""PC (Spirtes, Glymour & Scheines 2000) from causal-learn on a sample, with prior knowledge.

PC runs with whyflow's linear CI test (tasks/graph/independence.py), plugged into causal-learn as a
registered test so that a categorical column enters as one block of dummies instead of arbitrary
integer codes. Prior knowledge goes in as causal-learn's BackgroundKnowledge: forbidden edges and
tiers orient or remove adjacencies. PC cannot add an adjacency its tests removed, so a required edge
that PC did not find is added afterwards and reported as such.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd

from tasks.graph.independence import LinearCI
from tasks.structure.knowledge import PriorKnowledge

__all__ = ["run_pc"]

_TEST_NAME = "whyflow_linear_blocks"


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


def run_pc(data: pd.DataFrame, columns: list[str], *, alpha: float, categorical: tuple[str, ...] = (),
           knowledge: PriorKnowledge | None = None) -> tuple[dict[frozenset, tuple[str, str, str]], dict, list[str]]:
    """PC's edges {pair: (a, b, kind)}, separating sets {pair: [names]} and the required edges it lacked."""
    from causallearn.search.ConstraintBased.PC import pc

    knowledge = knowledge or PriorKnowledge()
    tester = LinearCI(data, columns, tuple(categorical))
    placeholder = np.arange(len(data) * len(columns), dtype=float).reshape(len(data), len(columns))
    _ci_test_class()
    background = None if knowledge.empty else knowledge.to_background_knowledge(columns)
    with contextlib.redirect_stdout(io.StringIO()):  # causal-learn prints orientation conflicts
        found = pc(placeholder, alpha, _TEST_NAME, stable=True, show_progress=False, node_names=columns,
                   tester=tester, columns=columns, background_knowledge=background)
    discovered = _pc_edges(found.G.graph, columns)
    added = []
    for a, b in sorted(knowledge.required):
        if discovered.get(frozenset((a, b))) != (a, b, "->"):
            added.append(f"{a}->{b}")
            discovered[frozenset((a, b))] = (a, b, "->")
    index = {c: k for k, c in enumerate(columns)}
    separating = {frozenset((a, b)): _separating_set(found.sepset, columns, index[a], index[b])
                  for k, a in enumerate(columns) for b in columns[k + 1:] if frozenset((a, b)) not in discovered}
    return discovered, separating, added
