"""NOTEARS (linear, our implementation) and prior knowledge: recovery of a known DAG, constraints
that hold by construction, acyclicity, determinism, and one-line errors for bad constraints."""

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from flows.cli import main
from tasks.graph.model import CausalGraph
from tasks.structure import PriorKnowledge, notears_linear, parse_edge, parse_tiers, structure_knowledge, \
    suggest_structure
from tasks.structure.knowledge import KnowledgeError

TRUE = [("a", "c"), ("b", "c"), ("c", "d"), ("d", "e")]  # a v-structure and a chain: one DAG in its class


def equal_variance_sem(edges, rows: int, seed: int) -> pd.DataFrame:
    """x_j = sum of parents * weight (0.8-1.5 in absolute value, random sign) + N(0, 1), raw scale:
    the equal-noise-variance model whose DAG the least-squares loss identifies."""
    dag = nx.DiGraph(edges)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    values = {}
    for node in nx.lexicographical_topological_sort(dag):
        column = rng.normal(size=rows)
        for parent in sorted(dag.predecessors(node)):
            column = column + rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.5) * values[parent]
        values[node] = column
    return pd.DataFrame({k: values[k] for k in sorted(values)})


def shd(found: set, truth: set) -> int:
    undirected = lambda edges: {frozenset(e) for e in edges}  # noqa: E731
    return len(undirected(found) ^ undirected(truth)) + sum((b, a) in truth for a, b in found)


def edges_of(fit, columns) -> set:
    return {(columns[i], columns[j]) for i, j in np.argwhere(fit.weights > 0)}


@pytest.fixture(scope="module")
def frame():
    return equal_variance_sem(TRUE, 2000, seed=1)


def test_recovers_a_small_known_dag(frame):
    """Raw scale (the identifiable equal-variance case): SHD <= 1 on 5 nodes, 2,000 rows (0 here)."""
    fit = notears_linear(frame.to_numpy(), standardise=False)
    assert shd(edges_of(fit, list(frame.columns)), set(TRUE)) <= 1
    assert fit.h < 1e-8


def test_standardising_loses_the_orientation_the_raw_scale_has(frame):
    """Why `standardise` is documented: on the same data the standardised fit misorients this DAG
    (Reisach et al. 2021, varsortability): it reverses the v-structure and adds an edge to make up for it."""
    fit = notears_linear(frame.to_numpy())
    assert shd(edges_of(fit, list(frame.columns)), set(TRUE)) >= 2


def test_output_is_acyclic_and_deterministic():
    data = equal_variance_sem([(f"v{i}", f"v{j}") for i in range(8) for j in range(i + 1, 8) if (i * 7 + j) % 3 == 0],
                              500, seed=4).to_numpy()
    one, two = notears_linear(data), notears_linear(data)
    assert np.array_equal(one.weights, two.weights)
    assert nx.is_directed_acyclic_graph(nx.DiGraph([tuple(e) for e in np.argwhere(one.weights > 0)]))


def test_forbidden_edge_never_appears_and_required_edge_always_does(frame):
    columns = list(frame.columns)
    index = {c: k for k, c in enumerate(columns)}
    forbidden = np.zeros((5, 5), dtype=bool)
    forbidden[index["c"], index["d"]] = True  # a true, strong edge
    required = np.zeros((5, 5), dtype=bool)
    required[index["a"], index["e"]] = True  # a false edge: not in the data
    fit = notears_linear(frame.to_numpy(), forbidden=forbidden, required=required, standardise=False)
    found = edges_of(fit, columns)
    assert ("c", "d") not in found and ("a", "e") in found
    assert (index["a"], index["e"]) in fit.forced  # reported as kept below the threshold


def test_tiers_are_respected_by_notears_and_pc(frame):
    """Tiers put e (a true descendant of everything) first: no edge may leave a later tier for e."""
    graph = CausalGraph(nx.DiGraph(TRUE), "g")
    nx.set_node_attributes(graph.dag, False, "latent")
    knowledge = structure_knowledge(graph, tiers=[["e"], ["a", "b", "c", "d"]])
    for method in ("notears", "pc"):
        found = suggest_structure(graph, frame, seed=0, method=method, knowledge=knowledge)
        assert not [e for e in found.discovered if e[1] == "e" and e[2] == "->"], method
        assert found.knowledge["tiers"] == [["e"], ["a", "b", "c", "d"]]


def test_role_tiers_keep_the_outcome_last():
    dag = nx.DiGraph([("x", "t"), ("x", "y"), ("t", "m"), ("m", "y")])
    nx.set_node_attributes(dag, False, "latent")
    knowledge = structure_knowledge(CausalGraph(dag, "g"), treatment="t", outcome="y")
    assert knowledge.tiers == (("x",), ("t",), ("m",), ("y",)) and knowledge.source == "roles"
    assert knowledge.forbids("y", "t") and knowledge.forbids("t", "x") and not knowledge.forbids("t", "y")


@pytest.mark.parametrize("build, message", [
    (lambda: parse_edge("a-b", "forbid"), "`forbid` must look like A->B"),
    (lambda: parse_edge("a->a", "require"), "`require` must look like A->B with two different nodes"),
    (lambda: parse_tiers("a,b;;c"), "`tiers` must be node lists separated by ';'"),
    (lambda: PriorKnowledge.build(forbidden=["a->z"]).check("abcde"), "`forbid` edge a->z names 'z'"),
    (lambda: PriorKnowledge.build(required=["q->a"]).check("abcde"), "`require` edge q->a names 'q'"),
    (lambda: PriorKnowledge.build(tiers=[["a"], ["zz"]]).check("abcde"), "`tiers` names 'zz'"),
    (lambda: PriorKnowledge.build(tiers=[["a"], ["b", "a"]]).check("abcde"), "'a' is in tiers 1 and 2"),
    (lambda: PriorKnowledge.build(forbidden=["a->b"], required=["a->b"]).check("abcde"),
     "required edge a->b must not also be forbidden"),
    (lambda: PriorKnowledge.build(required=["b->a"], tiers=[["a"], ["b"]]).check("abcde"),
     "required edge b->a must not also be forbidden"),
    (lambda: PriorKnowledge.build(required=["a->b", "b->a"]).check("abcde"), "required edges must not form a cycle"),
])
def test_bad_constraints_are_one_line_value_errors(build, message):
    with pytest.raises(ValueError) as caught:
        build()
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert isinstance(caught.value, KnowledgeError)


# --- the CLI: exit 2 and one line for constraints naming unknown nodes -----------------------------

@pytest.fixture(scope="module")
def files(tmp_path_factory, frame):
    root = tmp_path_factory.mktemp("suggest")
    (root / "g.dot").write_text("digraph { a -> c; b -> c; c -> d; d -> e; }")
    frame.to_csv(root / "d.csv", index=False)
    return str(root / "g.dot"), str(root / "d.csv")


@pytest.mark.parametrize("extra, message", [
    (["--forbid", "a->zz"], "`forbid` edge a->zz names 'zz', which is not a node of the data"),
    (["--require", "nope->a"], "`require` edge nope->a names 'nope', which is not a node of the data"),
    (["--tiers", "a,b;ghost"], "`tiers` names 'ghost', which is not a node of the data"),
    (["--forbid", "a=>b"], "`forbid` must look like A->B"),
    (["--treatment", "a", "--outcome", "nowhere"], "has no node for the outcome 'nowhere'"),
])
def test_cli_rejects_unknown_nodes_in_constraints(capsys, files, extra, message):
    graph, data = files
    code = main(["graph", "suggest", graph, "--data", data, "--method", "notears", *extra])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("whyflow: error:")]
    assert code == 2 and len(lines) == 1 and message in lines[0], err


def test_cli_notears_with_constraints_prints_the_diff(capsys, files):
    graph, data = files
    code = main(["graph", "suggest", graph, "--data", data, "--method", "notears", "--forbid", "c->d",
                 "--require", "a->e", "--json"])
    import json

    body = json.loads(capsys.readouterr().out)
    assert code == 0 and body["method"] == "notears" and ["a", "e", "->"] in body["discovered"]
    assert ["c", "d", "->"] not in body["discovered"] and body["knowledge"]["forbidden"] == [["c", "d"]]
