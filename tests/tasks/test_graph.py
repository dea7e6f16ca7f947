import pytest

from tasks.graph import CausalGraph, check_graph, load_graph, parse_graph_text
from whyflow.errors import GraphError
from whyflow.spec import AnalysisSpec


def spec_for(tmp_path, graph_text: str, suffix: str = ".dot", **roles) -> AnalysisSpec:
    path = tmp_path / f"g{suffix}"
    path.write_text(graph_text)
    return AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.parquet"}, treatment=roles.get("t", "t"),
                        outcome=roles.get("y", "y"), graph=path.name)


def test_same_graph_written_differently_has_the_same_version(tmp_path):
    one = load_graph(spec_for(tmp_path, "digraph { x -> t; x -> y; t -> y; }"))
    two = load_graph(spec_for(tmp_path, 'digraph G {\n "t" -> "y"\n // comment\n x -> y ; x -> t }'))
    three = load_graph(spec_for(tmp_path, "digraph { x -> t; t -> y; }"))
    assert one.sha256 == two.sha256 != three.sha256


def test_latent_flag_is_part_of_the_version(tmp_path):
    observed = load_graph(spec_for(tmp_path, "digraph { u -> t; u -> y; t -> y; }"))
    latent = load_graph(spec_for(tmp_path, "digraph { u [latent=true]; u -> t; u -> y; t -> y; }"))
    assert latent.latent == ["u"] and observed.latent == [] and latent.sha256 != observed.sha256


def test_gml_is_read(tmp_path):
    gml = ('graph [ directed 1 node [ id 0 label "x" ] node [ id 1 label "t" ] node [ id 2 label "y" ]'
           ' edge [ source 0 target 1 ] edge [ source 0 target 2 ] edge [ source 1 target 2 ] ]')
    graph = load_graph(spec_for(tmp_path, gml, ".gml"))
    assert sorted(graph.dag.edges) == [("t", "y"), ("x", "t"), ("x", "y")]


@pytest.mark.parametrize("text, message", [
    ("digraph { t -> y; y -> x; x -> t; }", "has a cycle: "),
    ("digraph { t -> y; t -> t; }", "self-loop on 't'"),
    ("digraph { x -> y; }", "no node for the treatment 't'"),
    ("digraph { t -> y; t -> y; }", "lists the edge t -> y more than once"),
    ("digraph { t [colour=red]; t -> y; }", "unknown attribute(s) ['colour']"),
    ("digraph { t -> ; }", "is not valid DOT: "),
    ("graph { t -- y; }", "must be a 'digraph'"),
])
def test_bad_graphs_are_named(tmp_path, text, message):
    with pytest.raises(GraphError) as err:
        load_graph(spec_for(tmp_path, text))
    assert message in str(err.value)


def test_cycle_is_spelled_out(tmp_path):
    with pytest.raises(GraphError, match=r"cycle: (t -> y -> x -> t|y -> x -> t -> y|x -> t -> y -> x)"):
        load_graph(spec_for(tmp_path, "digraph { t -> y; y -> x; x -> t; }"))


def test_parse_error_reports_the_line(tmp_path):
    with pytest.raises(GraphError, match="line:3"):
        load_graph(spec_for(tmp_path, "digraph {\n t -> y;\n x -> ;\n}"))


def test_nodes_must_be_columns_or_latent(tmp_path):
    spec = spec_for(tmp_path, "digraph { age -> t; age -> y; t -> y; }")
    graph = load_graph(spec)
    with pytest.raises(GraphError, match=r"node\(s\) \['age'\] are not columns"):
        check_graph(graph, spec, columns=["t", "y"])
    check_graph(graph, spec, columns=["t", "y", "age"])


def test_graph_from_confounders(tmp_path):
    spec = AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.csv"}, treatment="t", outcome="y",
                        confounders=["a", "b"], instruments=["z"])
    graph = load_graph(spec)
    assert set(graph.dag.edges) == {("t", "y"), ("a", "t"), ("a", "y"), ("b", "t"), ("b", "y"), ("z", "t")}
    assert isinstance(graph, CausalGraph) and graph.source == "confounders"


def test_parse_keeps_isolated_declared_nodes():
    dag = parse_graph_text("digraph { m; t -> y; }", "g")
    assert "m" in dag.nodes
