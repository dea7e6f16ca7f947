"""Structure suggestions: PC (causal-learn) on data from a known DAG, as a diff against a wrong graph."""

import pytest

from data.synthetic_graphs import simulate_linear
from tasks.structure import suggest_structure
from tasks.graph.model import CausalGraph, parse_graph_text


def graph(text: str) -> CausalGraph:
    return CausalGraph(parse_graph_text(f"digraph {{ {text} }}", "g"), "g")


TRUE = "a -> c; b -> c; c -> d; d -> e;"


@pytest.fixture(scope="module")
def frame():
    return simulate_linear(graph(TRUE).dag, 4000, seed=3, weight=(0.8, 1.5))


def test_the_true_graph_needs_no_change(frame):
    found = suggest_structure(graph(TRUE), frame, seed=1)
    assert found.add == [] and found.remove == [] and found.reverse == [] and found.agree == 4
    assert ("a", "c", "->") in found.discovered and ("b", "c", "->") in found.discovered  # the v-structure


def test_a_missing_edge_and_a_spurious_one_are_suggested(frame):
    """One seeded 4,000-row sample with edge weights of 0.8-1.5 in absolute value: the dependences PC
    needs are strong (partial correlations above 0.3), so alpha 0.01 separates them cleanly."""
    found = suggest_structure(graph("a -> c; b -> c; c -> d; a -> e;"), frame, seed=1)
    assert [(a, b) for a, b, _ in found.add] == [("d", "e")]
    assert [(a, b) for a, b, _ in found.remove] == [("a", "e")] and "c" in found.remove[0][2]  # a _||_ e | c
    assert found.rows == 4000


def test_pairs_joined_through_a_latent_variable_are_not_suggested(frame):
    import numpy as np

    data = frame.assign(f=frame["e"] + frame["a"] + np.random.default_rng(0).normal(size=len(frame)))
    found = suggest_structure(graph(TRUE + " u [latent=true]; u -> f; u -> e; a -> f;"), data, seed=1)
    assert all({a, b} != {"e", "f"} for a, b, _ in found.add)


def test_subsample_is_seeded(frame):
    one, two = (suggest_structure(graph(TRUE), frame, seed=5, rows=500) for _ in range(2))
    assert one.rows == 500 and one.discovered == two.discovered


def test_prior_knowledge_reaches_pc(frame):
    """Forbidding the true c -> d keeps it out (PC may keep the adjacency the other way); requiring the
    false a -> e puts it in, reported as added because PC's tests removed that adjacency."""
    from tasks.structure import structure_knowledge

    knowledge = structure_knowledge(graph(TRUE), forbid=["c->d"], require=["a->e"])
    found = suggest_structure(graph(TRUE), frame, seed=1, knowledge=knowledge)
    assert ("c", "d", "->") not in found.discovered and ("c", "d", "--") not in found.discovered
    assert ("a", "e", "->") in found.discovered and found.required_added == ["a->e"]
    assert found.knowledge["forbidden"] == [("c", "d")]


def test_role_tiers_stop_pc_pointing_the_outcome_at_the_treatment():
    """A chain x -> t -> y is unorientable from independences alone; tiers from the roles orient it."""
    import numpy as np
    import pandas as pd

    from tasks.structure import structure_knowledge

    rng = np.random.default_rng(0)
    x = rng.normal(size=3000)
    t = x + rng.normal(size=3000)
    y = t + rng.normal(size=3000)
    frame = pd.DataFrame({"x": x, "t": t, "y": y})
    user = graph("x -> t; t -> y;")
    plain = suggest_structure(user, frame, seed=0)
    assert ("t", "y", "--") in plain.discovered or ("y", "t", "->") in plain.discovered  # a chain: unorientable
    ordered = suggest_structure(user, frame, seed=0, knowledge=structure_knowledge(user, treatment="t", outcome="y"))
    assert ("t", "y", "->") in ordered.discovered and ("x", "t", "->") in ordered.discovered
