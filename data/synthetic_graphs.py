"""Synthetic causal graphs and linear-Gaussian data drawn from them, for benchmarks and tests.

`confounded_graph` is the issue-5 benchmark shape (many confounders, instruments, a mediator);
`random_dag` draws a DAG with a given number of nodes and expected degree; `simulate_linear` draws
data from any DAG (latent nodes are simulated, then dropped), so a test knows the true graph.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

__all__ = ["confounded_graph", "random_dag", "treatment_outcome_pair", "simulate_linear"]


def confounded_graph(confounders: int = 50, instruments: int = 2, mediators: int = 1,
                     direct: bool = False) -> nx.DiGraph:
    """x_i -> t, x_i -> y for every confounder; z_j -> t; t -> m_k -> y (and t -> y when `direct`)."""
    dag = nx.DiGraph()
    dag.add_nodes_from(["t", "y"])
    if direct:
        dag.add_edge("t", "y")
    for i in range(confounders):
        dag.add_edges_from([(f"x{i}", "t"), (f"x{i}", "y")])
    for j in range(instruments):
        dag.add_edge(f"z{j}", "t")
    for k in range(mediators):
        dag.add_edges_from([("t", f"m{k}"), (f"m{k}", "y")])
    nx.set_node_attributes(dag, False, "latent")
    return dag


def random_dag(nodes: int = 200, mean_degree: float = 3.0, seed: int = 0, latent_share: float = 0.0) -> nx.DiGraph:
    """An Erdos-Renyi DAG over v0..v{n-1} (edges go forward in index order), some nodes latent."""
    rng = np.random.default_rng(seed)
    names = [f"v{i}" for i in range(nodes)]
    dag = nx.DiGraph()
    dag.add_nodes_from(names, latent=False)
    p = mean_degree / max(nodes - 1, 1)
    upper = np.triu(rng.random((nodes, nodes)) < p, k=1)
    dag.add_edges_from((names[i], names[j]) for i, j in zip(*np.nonzero(upper)))
    for name in names:
        if rng.random() < latent_share:
            dag.nodes[name]["latent"] = True
    return dag


def treatment_outcome_pair(dag: nx.DiGraph) -> tuple[str, str]:
    """A deterministic observed pair (t, y) with y a descendant of t and both well connected:
    t maximises ancestors x descendants, y is t's observed descendant with the most ancestors."""
    observed = [n for n in dag if not dag.nodes[n].get("latent")]
    scored = sorted(observed, key=lambda n: (-(len(nx.ancestors(dag, n)) + 1) * len(nx.descendants(dag, n)), n))
    for t in scored:
        downstream = [n for n in nx.descendants(dag, t) if not dag.nodes[n].get("latent")]
        if downstream:
            return t, max(sorted(downstream), key=lambda n: len(nx.ancestors(dag, n)))
    raise ValueError("the graph has no observed pair with a directed path")


def simulate_linear(dag: nx.DiGraph, rows: int, seed: int = 0,
                    weight: tuple[float, float] = (0.5, 1.5)) -> pd.DataFrame:
    """Linear-Gaussian data: each node = sum of parent * weight (random sign) + N(0, 1) noise.
    Latent nodes are simulated and then left out of the frame."""
    rng = np.random.default_rng(seed)
    values: dict[str, np.ndarray] = {}
    for node in nx.topological_sort(dag):
        column = rng.normal(size=rows)
        for parent in dag.predecessors(node):
            column = column + rng.choice([-1.0, 1.0]) * rng.uniform(*weight) * values[parent]
        values[node] = column / max(1.0, float(np.std(column)))
    observed = [n for n in dag if not dag.nodes[n].get("latent")]
    return pd.DataFrame({n: values[n] for n in observed})
