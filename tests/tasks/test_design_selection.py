"""Which estimators run by default, and why: the design the declared roles and the graph imply."""

import pytest

from data.dgps import frontdoor_mediator, instrument_unobserved_confounder
from estimators import registry
from tasks.estimate.effects import causal_data
from tasks.plan import plan_analysis, preflight, recommend
from tasks.scale.source import EngineChoice
from tasks.graph.model import graph_from_roles, load_graph
from tasks.identify.effect import identify_effect
from whyflow.errors import SpecError
from whyflow.spec import AnalysisSpec


MEMORY = EngineChoice("memory", None, None, "test")


def spec(tmp_path, **roles) -> AnalysisSpec:
    return AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.parquet"}, **roles)


def select_estimators(s, found) -> dict:
    return plan_analysis(s, found, MEMORY).selection()


def recommended(*args, **kwargs) -> list[str]:
    return recommend(*args, **kwargs)["estimators"]


def test_recommend_by_design_and_treatment_type():
    assert recommend(running_variable=True)["estimators"] == ["rdd"]
    iv = recommend("continuous", instruments=True, backdoor=True)
    assert iv["design"] == "iv" and iv["estimators"] == ["iv_2sls", "dml_iv", "linear_regression", "linear_dml"]
    assert "also identifies a back-door set" in iv["reason"]
    alone = recommend("binary", instruments=True, backdoor=False)
    assert alone["estimators"] == ["iv_2sls", "dml_iv"] and "no back-door estimator runs" in alone["reason"]
    assert recommend("continuous")["estimators"] == ["linear_regression", "linear_dml"]
    assert recommend(backdoor=False)["estimators"] == ["frontdoor"]
    binary = recommended("binary")
    assert binary[:3] == ["linear_regression", "ps_stratification", "ipw"] and binary[-1] == "linear_dml"
    assert set(binary) <= set(registry.available())
    if "ps_matching" in registry.available():  # matching joins for the ATT, the classic choice there
        assert "ps_matching" in recommended("binary", estimand="att")
        assert "ps_matching" not in binary


def test_card_style_iv_with_only_roles_declared(tmp_path):
    """Schooling (continuous) instrumented by college proximity, with declared controls: IV first,
    and, as the implied graph has no latent node, the back-door estimators alongside."""
    s = spec(tmp_path, treatment="educ", outcome="lwage", confounders=["exper", "black", "south", "region"],
             instruments=["nearc4"], categorical=["region"], treatment_type="continuous")
    found = identify_effect(graph_from_roles(s), s)
    chosen = select_estimators(s, found)
    assert chosen["design"] == "iv" and chosen["source"] == "recommended"
    assert chosen["estimators"] == ["iv_2sls", "dml_iv", "linear_regression", "linear_dml"]
    assert found.iv_controls == ["black", "exper", "region", "south"]


def test_lalonde_style_att_and_lee_style_rd(tmp_path):
    att = spec(tmp_path, treatment="treat", outcome="re78", confounders=["age", "educ", "race", "married"],
               categorical=["race"], estimand="att")
    chosen = select_estimators(att, identify_effect(graph_from_roles(att), att))
    assert chosen["design"] == "backdoor" and "ATT" in chosen["reason"]
    assert chosen["estimators"] == recommended("binary", estimand="att")
    rd = spec(tmp_path, treatment="won", outcome="vote_next", confounders=[], running_variable="margin", cutoff=0.0)
    graph = graph_from_roles(rd)
    assert {("margin", "won"), ("margin", "vote_next")} <= set(graph.dag.edges)
    chosen = select_estimators(rd, identify_effect(graph, rd))
    assert chosen == {"design": "rdd", "estimators": ["rdd"], "source": "recommended",
                      "reason": "running_variable and cutoff declared: sharp regression discontinuity (binary "
                                "treatment); the effect is identified at the cutoff only"}


def test_named_estimators_win_and_unknown_names_are_spec_errors(tmp_path):
    s = spec(tmp_path, treatment="t", outcome="y", confounders=["w"], instruments=["z"], estimators=["iv_2sls"])
    chosen = select_estimators(s, identify_effect(graph_from_roles(s), s))
    assert chosen["estimators"] == ["iv_2sls"] and chosen["source"] == "spec" and chosen["design"] == "iv"
    bad = spec(tmp_path, treatment="t", outcome="y", confounders=["w"], estimators=["two_stage"])
    with pytest.raises(SpecError, match="unknown estimator 'two_stage' in 'estimators'"):
        preflight(bad)


def test_latent_confounder_with_declared_instrument_identifies_by_iv(tmp_path):
    sim = instrument_unobserved_confounder(n=1000, seed=1)
    (tmp_path / "g.dot").write_text(sim.graph)
    s = spec(tmp_path, treatment="t", outcome="y", graph="g.dot", instruments=["z"])
    found = identify_effect(load_graph(s), s)
    assert found.strategy == "iv" and found.backdoor is None and found.iv_controls == ["w"]
    data = causal_data(sim.frame, s, found, plan_analysis(s, found, MEMORY))
    assert data.backdoor_identified is False and data.z_names == ["z"] and data.w_names == ["w"]
    chosen = select_estimators(s, found)
    assert chosen["estimators"] == ["iv_2sls", "dml_iv"]


def test_front_door_graph_selects_the_front_door_estimator(tmp_path):
    sim = frontdoor_mediator(n=500, seed=1)
    (tmp_path / "g.dot").write_text(sim.graph)
    s = spec(tmp_path, treatment="t", outcome="y", graph="g.dot")
    found = identify_effect(load_graph(s), s)
    assert found.strategy == "frontdoor" and found.frontdoor == ["m"]
    assert select_estimators(s, found)["estimators"] == ["frontdoor"]
    data = causal_data(sim.frame, s, found, plan_analysis(s, found, MEMORY))
    assert data.m_names == ["m"] and data.W.shape == (500, 0)


@pytest.mark.parametrize("roles, message", [
    ({"running_variable": "t", "cutoff": 0.0}, "'running_variable' must not be the treatment or outcome; got 't'"),
    ({"running_variable": "z", "cutoff": 0.0, "instruments": ["z"]}, "'running_variable' must not also be an instrument"),
    ({"running_variable": "r"}, "'running_variable' and 'cutoff' go together"),
])
def test_bad_design_roles_are_rejected(tmp_path, roles, message):
    with pytest.raises(ValueError, match=message):
        spec(tmp_path, treatment="t", outcome="y", confounders=[], **roles)


def test_a_declared_instrument_the_graph_contradicts_is_named_in_the_error(tmp_path):
    from whyflow.errors import IdentificationError

    (tmp_path / "g.dot").write_text("digraph { u [latent=true]; u -> t; u -> y; z -> t; z -> y; t -> y; }")
    s = spec(tmp_path, treatment="t", outcome="y", graph="g.dot", instruments=["z"])
    with pytest.raises(IdentificationError, match=r"declared instrument\(s\) \['z'\] are not instruments in this graph"):
        identify_effect(load_graph(s), s)
