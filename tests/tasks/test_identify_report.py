"""The identification report on textbook graphs (known answers), and its sets against DoWhy's checks."""

import warnings

import networkx as nx
import pytest

from data.synthetic_graphs import confounded_graph, random_dag, treatment_outcome_pair
from tasks.graph.model import CausalGraph, parse_graph_text
from tasks.identify.report import identification_report
from tasks.graph.model import without_out_edges
from tasks.identify.strategies import is_frontdoor_set
from whyflow.errors import GraphError


def report_for(text: str, t: str = "t", y: str = "y", **rdd):
    return identification_report(CausalGraph(parse_graph_text(f"digraph {{ {text} }}", "g"), "g"), t, y, **rdd)


def names(report) -> list[str]:
    return [i.name for i in report.instruments]


def test_back_door():
    r = report_for("x -> t; x -> y; t -> y;")
    assert r.to_json()["backdoor"] == {"minimal": ["x"], "all_observed": ["x"]}
    assert r.frontdoor is None and names(r) == [] and r.identified == ["back-door"]


def test_front_door_when_a_latent_confounder_blocks_the_back_door():
    r = report_for("u [latent=true]; u -> t; u -> y; t -> m; m -> y;")
    assert r.to_json() == {"backdoor": {"minimal": None, "all_observed": None}, "frontdoor": ["m"],
                           "instruments": [], "seconds": r.seconds}
    assert r.backdoor_blocked_by == ("u",) and r.remaining == ["front-door"]


def test_front_door_fails_when_the_mediator_is_confounded_with_the_outcome():
    r = report_for("u [latent=true]; v [latent=true]; u -> t; u -> y; t -> m; m -> y; v -> m; v -> y;")
    assert r.frontdoor is None and r.identified == []


def test_front_door_fails_with_a_direct_effect():
    assert report_for("u [latent=true]; u -> t; u -> y; t -> m; m -> y; t -> y;").frontdoor is None


def test_instrument():
    r = report_for("u [latent=true]; u -> t; u -> y; z -> t; t -> y;")
    assert names(r) == ["z"] and r.instruments[0].conditioning == () and r.instruments[0].parent
    assert r.remaining == ["instrumental variables"]


def test_conditional_instrument_names_its_conditioning_set():
    r = report_for("u [latent=true]; u -> t; u -> y; w -> z; w -> y; z -> t; t -> y;")
    assert [(i.name, i.conditioning) for i in r.instruments] == [("z", ("w",))]


def test_indirect_cause_of_the_treatment_is_an_instrument_too():
    r = report_for("u [latent=true]; u -> t; u -> y; z -> w; w -> t; t -> y;")
    assert [(i.name, i.parent) for i in r.instruments] == [("w", True), ("z", False)]


def test_instrument_with_a_direct_path_to_the_outcome_is_not_one():
    assert names(report_for("u [latent=true]; u -> t; u -> y; z -> t; z -> y; t -> y;")) == []


def test_instrument_is_left_out_of_the_adjustment_set():
    r = report_for("z -> t; x -> t; x -> y; t -> y;")
    assert r.backdoor_all_observed == ("x",) and names(r) == ["z"]


def test_m_bias_never_adjusts_for_the_collider():
    r = report_for("a -> t; a -> m; b -> m; b -> y; t -> y;")
    assert r.backdoor_all_observed == ("b",) and r.backdoor_minimal == ()


def test_butterfly_bias_needs_the_collider_and_one_of_its_parents():
    r = report_for("a -> t; a -> m; b -> m; b -> y; m -> t; m -> y; t -> y;")
    assert r.backdoor_all_observed == ("a", "b", "m")
    assert "m" in r.backdoor_minimal and len(r.backdoor_minimal) == 2


def test_descendants_of_the_treatment_are_never_adjusted_for():
    r = report_for("x -> t; x -> y; t -> d; d -> y; t -> c; y -> c;")
    assert r.backdoor_all_observed == ("x",) and r.backdoor_minimal == ("x",)
    assert r.frontdoor == ("d",)  # the observed confounder x does not confound d: front-door holds too


def test_regression_discontinuity_applies_with_a_running_variable_that_causes_the_treatment():
    graph = "u [latent=true]; u -> t; u -> y; r -> t; r -> y; t -> y;"
    r = report_for(graph, running_variable="r", cutoff=0.5)
    assert r.remaining == ["regression discontinuity"]
    assert "at 0.5" in next(s.note for s in r.strategies if s.name == "regression discontinuity")
    assert not report_for(graph).rdd[0]
    assert "not a cause" in report_for(graph + " q -> y;", running_variable="q").rdd[1]
    assert "not a node" in report_for(graph, running_variable="score").rdd[1]


def test_every_identified_strategy_lists_its_assumptions():
    r = report_for("u [latent=true]; u -> t; u -> y; z -> t; t -> m; m -> y;", running_variable="z", cutoff=0.0)
    assert r.identified == ["front-door", "instrumental variables", "regression discontinuity"]
    assert all(len(s.assumptions) >= 3 for s in r.strategies)
    assert r.details()["instrument_conditioning"] == {"z": []}


def test_the_demo_latent_confounder_is_named(tmp_path):
    from tasks.graph.model import read_graph_file
    from tests.conftest import REPO

    r = identification_report(read_graph_file(REPO / "data/graphs/coupon_618_latent.dot"), "coupon_sent", "gmv")
    assert r.backdoor_blocked_by == ("marketing_sensitivity",) and r.identified == []


@pytest.mark.parametrize("role", ["treatment", "outcome"])
def test_missing_role_is_a_graph_error(role):
    roles = {"t": "t", "y": "y", ("t" if role == "treatment" else "y"): "absent"}
    with pytest.raises(GraphError, match=f"has no node for the {role} 'absent'"):
        report_for("t -> y;", **roles)


# --- against DoWhy's own validity checks -------------------------------------------------------------------


def dowhy_accepts_backdoor(dag: nx.DiGraph, t: str, y: str, adjust) -> bool:
    from dowhy.graph import check_valid_backdoor_set

    return check_valid_backdoor_set(dag, [t], [y], list(adjust))["is_dseparated"]


def dowhy_accepts_frontdoor(dag: nx.DiGraph, t: str, y: str, mediators) -> bool:
    from dowhy.graph import check_valid_backdoor_set, check_valid_frontdoor_set, do_surgery

    mediators = list(mediators)
    into_t = do_surgery(dag, [t], remove_incoming_edges=True)
    out_of_m = do_surgery(dag, mediators, remove_outgoing_edges=True)
    return (check_valid_frontdoor_set(dag, [t], [y], mediators, new_graph=into_t)
            and check_valid_backdoor_set(dag, [t], mediators, [])["is_dseparated"]
            and check_valid_backdoor_set(dag, mediators, [y], [t], new_graph=out_of_m)["is_dseparated"])


def check_against_dowhy(dag: nx.DiGraph, t: str, y: str) -> None:
    from dowhy.graph import get_instruments

    r = identification_report(CausalGraph(dag, "random"), t, y)
    observed = {n for n in dag if not dag.nodes[n].get("latent")}
    forbidden = nx.descendants(dag, t) | {t, y}
    # Tian, Paz & Pearl 1998: a separator within R exists iff An({t, y}) & R separates.
    ancestral = (nx.ancestors(dag, t) | nx.ancestors(dag, y)) & (observed - forbidden)
    assert (r.backdoor_all_observed is not None) == dowhy_accepts_backdoor(dag, t, y, ancestral)
    if r.backdoor_all_observed is not None:
        for adjust in (r.backdoor_all_observed, r.backdoor_minimal):
            assert set(adjust) <= observed - forbidden and dowhy_accepts_backdoor(dag, t, y, adjust)
    if r.frontdoor is not None:
        assert set(r.frontdoor) <= observed and dowhy_accepts_frontdoor(dag, t, y, r.frontdoor)
    theirs = {z for z in get_instruments(dag, [t], [y]) if z in observed}
    assert theirs <= set(names(r))
    cut = without_out_edges(dag, [t])
    for i in r.instruments:
        assert nx.is_d_separator(cut, {i.name}, {y}, set(i.conditioning))
        assert not nx.is_d_separator(dag, {i.name}, {t}, set(i.conditioning))


def test_benchmark_graph_with_50_confounders():
    dag = confounded_graph(50, 2, 1)
    r = identification_report(CausalGraph(dag, "bench"), "t", "y")
    assert r.to_json()["backdoor"]["all_observed"] == sorted(f"x{i}" for i in range(50))
    assert r.frontdoor == ("m0",) and names(r) == ["z0", "z1"]
    check_against_dowhy(dag, "t", "y")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("latent_share", [0.0, 0.15])
def test_random_200_node_dags_give_sets_dowhy_accepts(seed, latent_share):
    dag = random_dag(200, 3.0, seed=seed, latent_share=latent_share)
    check_against_dowhy(dag, *treatment_outcome_pair(dag))


def test_front_door_search_agrees_with_dowhys_exhaustive_search_on_small_graphs():
    """400 seeded random DAGs of 4-9 nodes, a quarter of the nodes latent: a front-door set exists for
    us exactly when DoWhy's subset enumeration finds one, and ours passes DoWhy's three checks."""
    import numpy as np
    from dowhy.causal_identifier.auto_identifier import identify_frontdoor

    rng, found = np.random.default_rng(7), 0
    for _ in range(400):
        dag = random_dag(int(rng.integers(4, 10)), float(rng.uniform(1.5, 4.0)), seed=int(rng.integers(1 << 30)),
                         latent_share=0.25)
        observed = sorted(n for n in dag if not dag.nodes[n]["latent"])
        if len(observed) < 3:
            continue
        if not any(nx.descendants(dag, n) & set(observed) for n in observed):
            continue
        t, y = treatment_outcome_pair(dag)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = identify_frontdoor(dag, [t], [y], observed)
        ours = identification_report(CausalGraph(dag, "g"), t, y).frontdoor
        assert (ours is None) == (not theirs), (sorted(dag.edges), t, y, ours, theirs)
        if ours is not None:
            found += 1
            assert is_frontdoor_set(dag, t, y, set(ours)) and dowhy_accepts_frontdoor(dag, t, y, ours)
    assert found >= 10  # the comparison exercised real front-door cases
