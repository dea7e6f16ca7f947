"""Test the graph against the data: the conditional independences it implies, and random graphs.

A DAG implies that each node is independent of its non-descendants given its parents (local Markov).
One statement per non-adjacent pair of observed nodes is tested: the later node in topological
order against the earlier one, given the later node's observed parents; when a latent parent makes
that set insufficient, a minimal observed separator is used, and a pair that only latent variables
could separate has no testable implication. The share violated at `alpha` is compared with random
DAGs with the same nodes (and latent flags) and the same number of edges: the p-value is the share
of random graphs that fare at least as well, as in DoWhy's falsify_graph (Eulig et al. 2023), with
the +1 correction of Monte Carlo tests (Davison & Hinkley 1997, eq. 4.11).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

import networkx as nx
import numpy as np
import pandas as pd

from tasks.graph.independence import CI_METHODS
from tasks.graph.encode import complete_rows
from tasks.graph.model import CausalGraph, check_columns, observed_nodes
from whyflow.spec import AnalysisSpec, Gates

__all__ = ["ImpliedIndependence", "GraphTestReport", "implied_independences", "random_dag_like", "run_graph_tests",
           "check_implications", "graph_gate_failure", "DEFAULT_RANDOM_GRAPHS", "LINEAR_ROWS", "KCI_ROWS"]

log = logging.getLogger(__name__)
DEFAULT_RANDOM_GRAPHS = {"linear": 100, "kci": 20}
LINEAR_ROWS = 200_000  # a correlation matrix is cheap: the linear test uses up to this many rows
KCI_ROWS = 500  # kernel matrices are not: the nonparametric test uses a subsample


@dataclass(frozen=True)
class ImpliedIndependence:
    x: str
    y: str
    given: tuple[str, ...]
    p_value: float | None
    violated: bool | None  # None: untestable on this data (a variable is constant or determined)


@dataclass(frozen=True)
class GraphTestReport:
    method: str
    alpha: float
    rows: int  # rows the tests used (complete cases, subsampled with `seed` when larger than the cap)
    rows_total: int
    seed: int
    implied: int  # implied independences that were tested
    violated: int
    violated_share: float | None
    untestable_pairs: list[tuple[str, str]]  # non-adjacent, but only latent variables separate them
    random_graphs: int  # random graphs that had at least one testable implication
    random_violated_share: float | None  # their mean share violated
    p_value: float | None  # share of random graphs violating no more than this graph (+1 corrected)
    implications: list[ImpliedIndependence]
    seconds: float
    note: str = ""  # what was (not) tested and why

    @property
    def pass_share(self) -> float | None:
        return None if self.violated_share is None else 1.0 - self.violated_share

    def to_json(self) -> dict:
        return asdict(self) | {"pass_share": self.pass_share}


def implied_independences(dag: nx.DiGraph) -> tuple[list[tuple[str, str, tuple[str, ...]]], list[tuple[str, str]]]:
    """([(earlier, later, given), ...], untestable pairs): one implication per non-adjacent observed pair."""
    observed = observed_nodes(dag)
    order = [n for n in nx.lexicographical_topological_sort(dag) if n in observed]
    implied, untestable = [], []
    for position, later in enumerate(order):
        parents = tuple(sorted(p for p in dag.predecessors(later) if p in observed))
        complete = all(p in observed for p in dag.predecessors(later))
        for earlier in order[:position]:
            if dag.has_edge(earlier, later) or dag.has_edge(later, earlier):
                continue
            if complete or nx.is_d_separator(dag, {later}, {earlier}, set(parents)):
                implied.append((earlier, later, parents))
                continue
            given = nx.find_minimal_d_separator(dag, {later}, {earlier}, restricted=observed - {later, earlier})
            if given is None:
                untestable.append((earlier, later))
            else:
                implied.append((earlier, later, tuple(sorted(given))))
    return implied, untestable


def random_dag_like(dag: nx.DiGraph, rng: np.random.Generator) -> nx.DiGraph:
    """A uniformly drawn DAG with the same nodes (and latent flags) and the same number of edges."""
    nodes = sorted(dag.nodes)
    order = [nodes[i] for i in rng.permutation(len(nodes))]
    pairs = [(order[i], order[j]) for i in range(len(order)) for j in range(i + 1, len(order))]
    chosen = rng.choice(len(pairs), size=min(dag.number_of_edges(), len(pairs)), replace=False)
    random = nx.DiGraph()
    random.add_nodes_from((n, {"latent": bool(dag.nodes[n].get("latent"))}) for n in nodes)
    random.add_edges_from(pairs[i] for i in chosen)
    return random


def _violations(statements, tester, alpha: float, memo: dict) -> list[ImpliedIndependence]:
    results = []
    for earlier, later, given in statements:
        key = (frozenset((earlier, later)), given)
        if key not in memo:
            memo[key] = tester.p_value(earlier, later, given)
        p = memo[key]
        results.append(ImpliedIndependence(earlier, later, given, p, None if p is None else p < alpha))
    return results


def _share(results: list[ImpliedIndependence]) -> tuple[int, int, float | None]:
    tested = [r for r in results if r.violated is not None]
    violated = sum(r.violated for r in tested)
    return len(tested), violated, (violated / len(tested) if tested else None)


def run_graph_tests(graph: CausalGraph, frame: pd.DataFrame, *, seed: int, method: str = "linear",
                    alpha: float = 0.05, random_graphs: int | None = None, rows: int | None = None,
                    categorical: tuple[str, ...] = (), claims: set[str] | None = None,
                    note: str = "") -> GraphTestReport:
    """Test the graph's implied independences on the data and against random graphs of its size.
    With `claims`, only independences involving one of those nodes are claims of the user's and
    tested (the rest of the graph was implied by whyflow, not drawn)."""
    if method not in CI_METHODS:
        raise ValueError(f"method must be one of {sorted(CI_METHODS)}; got {method!r}")
    started = time.perf_counter()
    check_columns(graph, list(frame.columns))
    columns = graph.observed
    data = complete_rows(frame, columns)
    cap = rows if rows is not None else (LINEAR_ROWS if method == "linear" else KCI_ROWS)
    children = np.random.SeedSequence(seed).spawn(2)
    if method == "linear":
        if len(data) > cap:
            data = data.iloc[np.sort(np.random.default_rng(children[0]).choice(len(data), cap, replace=False))]
        tester = CI_METHODS[method](data, columns, tuple(categorical))
    else:
        tester = CI_METHODS[method](data, columns, tuple(categorical), seed=int(children[0].generate_state(1)[0]),
                                    rows=cap)
    memo: dict = {}
    statements, untestable = implied_independences(graph.dag)
    if claims is not None:
        statements = [s for s in statements if claims & {s[0], s[1]}]
    results = _violations(statements, tester, alpha, memo)
    implied, violated, share = _share(results)
    rng = np.random.default_rng(children[1])
    shares = []
    for _ in range((DEFAULT_RANDOM_GRAPHS[method] if random_graphs is None else random_graphs) if statements else 0):
        random_statements, _ = implied_independences(random_dag_like(graph.dag, rng))
        random_share = _share(_violations(random_statements, tester, alpha, memo))[2]
        if random_share is not None:
            shares.append(random_share)
    p_value = None if share is None or not shares else (1 + sum(s <= share for s in shares)) / (1 + len(shares))
    seconds = time.perf_counter() - started
    log.info("graph test (%s, %d rows): %d of %d implied independences violated; random graphs %.2f",
             method, tester.n, violated, implied, float(np.mean(shares)) if shares else float("nan"))
    return GraphTestReport(method=method, alpha=alpha, rows=tester.n, rows_total=len(frame), seed=seed,
                           implied=implied, violated=violated, violated_share=share, untestable_pairs=untestable,
                           random_graphs=len(shares), random_violated_share=float(np.mean(shares)) if shares else None,
                           p_value=p_value, implications=results, seconds=seconds, note=note)


def check_implications(graph: CausalGraph, frame: pd.DataFrame, spec: AnalysisSpec, *, method: str = "linear",
                            alpha: float = 0.05, random_graphs: int | None = None,
                            rows: int | None = None) -> GraphTestReport:
    """The analysis step: run_graph_tests with the spec's seed and categorical columns. A graph built
    from a `confounders:` list claims nothing about how the confounders relate to each other; only the
    instruments' exclusion restrictions are the user's claims there, so only they are tested."""
    claims, note = None, ""
    if graph.source == "confounders":
        claims = set(spec.instruments)
        note = ("graph built from the spec's roles: independences among the confounders were never claimed and are "
                "not tested" + ("; the instruments' exclusion restrictions are" if claims else ""))
    return run_graph_tests(graph, frame, seed=spec.seed, method=method, alpha=alpha, random_graphs=random_graphs,
                           rows=rows, categorical=tuple(spec.categorical), claims=claims, note=note)


check_implications.__test__ = False  # a pipeline step, not a pytest test


def graph_gate_failure(report: GraphTestReport, gates: Gates) -> str | None:
    """The min_graph_pass_share gate's failure message, or None when it passes or is not set."""
    threshold = getattr(gates, "min_graph_pass_share", None)
    if threshold is None or report.pass_share is None or report.pass_share >= threshold:
        return None
    return (f"graph test gate failed: {report.violated} of {report.implied} implied independences violated at "
            f"alpha {report.alpha:g} (pass share {report.pass_share:.3f}) < min_graph_pass_share {threshold}")
