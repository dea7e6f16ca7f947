import pytest

from tasks.graph.model import load_graph
from tasks.identify.effect import identify_effect
from tests.conftest import REPO
from whyflow.errors import IdentificationError
from whyflow.spec import AnalysisSpec


def spec(graph: str, base=REPO, t="coupon_sent", y="gmv") -> AnalysisSpec:
    return AnalysisSpec(name="a", base_dir=base, data={"path": "d.parquet"}, treatment=t, outcome=y, graph=graph)


def test_demo_graph_adjusts_for_the_three_back_door_paths_and_frequency():
    s = spec("data/graphs/coupon_618.dot")
    found = identify_effect(load_graph(s), s)
    assert found.strategy == "backdoor"
    assert found.backdoor == ["historical_gmv", "member_level", "purchase_frequency", "user_activity"]


def test_latent_confounder_blocks_back_door_with_a_clear_error():
    s = spec("data/graphs/coupon_618_latent.dot")
    with pytest.raises(IdentificationError, match="not identified by back-door.*latent: marketing_sensitivity"):
        identify_effect(load_graph(s), s)


def test_latent_confounder_with_instrument_names_the_remaining_strategy(tmp_path):
    (tmp_path / "g.dot").write_text("digraph { u [latent=true]; u -> t; u -> y; z -> t; t -> y; }")
    s = spec("g.dot", base=tmp_path, t="t", y="y")
    with pytest.raises(IdentificationError, match="strategies that remain: instrumental variables"):
        identify_effect(load_graph(s), s)


def test_instrument_is_noted_when_back_door_also_works(tmp_path):
    (tmp_path / "g.dot").write_text("digraph { x -> t; x -> y; z -> t; t -> y; }")
    s = spec("g.dot", base=tmp_path, t="t", y="y")
    found = identify_effect(load_graph(s), s)
    assert found.backdoor == ["x"] and found.instruments == ["z"]


@pytest.mark.parametrize("edges, latent, preferred, minimal", [
    # M-bias: m is a collider between two latent-free parents; adjusting for it opens a path.
    ("a -> t; a -> m; b -> m; b -> y; t -> y;", "", ["b"], []),
    # butterfly: m is a confounder and a collider; {m} alone opens a->m<-b, so a or b must join it.
    ("a -> t; a -> m; b -> m; b -> y; m -> t; m -> y; t -> y;", "", ["a", "b", "m"], ["a", "m"]),
    # mediator is never adjusted for
    ("x -> t; x -> y; t -> med; med -> y;", "", ["x"], ["x"]),
    # latent confounder with an observed proxy on the path: the proxy blocks it
    ("u -> p; p -> t; u -> y; t -> y;", "u [latent=true];", ["p"], ["p"]),
])
def test_adjustment_sets_on_textbook_graphs(tmp_path, edges, latent, preferred, minimal):
    from tasks.identify.effect import adjustment_sets

    (tmp_path / "g.dot").write_text(f"digraph {{ {latent} {edges} }}")
    s = spec("g.dot", base=tmp_path, t="t", y="y")
    got_preferred, got_minimal = adjustment_sets(load_graph(s).dag, "t", "y")
    assert got_preferred == preferred
    assert len(got_minimal) == len(minimal)


def test_front_door_and_regression_discontinuity_identify_without_a_back_door_set(tmp_path):
    (tmp_path / "g.dot").write_text("digraph { u [latent=true]; u -> t; u -> y; t -> m; m -> y; r -> t; }")
    s = AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.parquet"}, treatment="t", outcome="y", graph="g.dot",
                     running_variable="r", cutoff=0.0)
    found = identify_effect(load_graph(s), s)
    assert found.strategy == "rdd" and found.backdoor is None
    assert found.frontdoor == ["m"] and found.instruments == ["r"]


def test_estimand_is_written_as_dowhy_prints_it(tmp_path):
    (tmp_path / "g.dot").write_text("digraph { b -> t; a -> t; a -> y; b -> y; t -> y; }")
    found = identify_effect(load_graph(spec("g.dot", base=tmp_path, t="t", y="y")), spec("g.dot", base=tmp_path, t="t", y="y"))
    assert found.estimand == "Derivative(Expectation(y|a,b), [t])"
