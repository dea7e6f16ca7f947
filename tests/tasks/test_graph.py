import pytest

from tasks.graph.model import CausalGraph, check_graph, load_graph, parse_graph_text
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
    ("digraph { t -> ; }", "is not valid DOT at line 1, column "),
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
    with pytest.raises(GraphError, match="not valid DOT at line 3, column 4: Expected rbrace"):
        load_graph(spec_for(tmp_path, "digraph {\n t -> y;\n x -> ;\n}"))


def test_nodes_must_be_columns_or_latent(tmp_path):
    spec = spec_for(tmp_path, "digraph { age -> t; age -> y; t -> y; }")
    graph = load_graph(spec)
    with pytest.raises(GraphError, match=r"node\(s\) \['age'\] are not columns"):
        check_graph(graph, spec, columns=["t", "y"])
    check_graph(graph, spec, columns=["t", "y", "age"])


def test_a_node_like_a_column_suggests_it_before_latent(tmp_path):
    spec = spec_for(tmp_path, "digraph { region -> y; regoin -> t; t -> y; }")
    with pytest.raises(GraphError) as err:
        check_graph(load_graph(spec), spec, columns=["t", "y", "region"])
    assert str(err.value).endswith("node(s) ['regoin'] are not columns of the data and not marked latent "
                                   "(did you mean 'region' for 'regoin'? otherwise add [latent=true] to an "
                                   "unobserved variable)")


def test_graph_from_confounders(tmp_path):
    spec = AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.csv"}, treatment="t", outcome="y",
                        confounders=["a", "b"], instruments=["z"])
    graph = load_graph(spec)
    assert set(graph.dag.edges) == {("t", "y"), ("a", "t"), ("a", "y"), ("b", "t"), ("b", "y"), ("z", "t")}
    assert isinstance(graph, CausalGraph) and graph.source == "confounders"


def test_parse_keeps_isolated_declared_nodes():
    dag = parse_graph_text("digraph { m; t -> y; }", "g")
    assert "m" in dag.nodes


GML_HEAD = 'graph [\n directed 1\n node [ id 0 label "t" ]\n node [ id 1 label "y" ]\n'


@pytest.mark.parametrize("text, message", [
    (GML_HEAD + ' edge [ source 0 target 1 ]\n edge [ source 0 target 1 ]\n]', "lists the edge t -> y more than once"),
    (GML_HEAD + ' edge [ source 0 target 1 ]\n @@ \n]', "is not valid GML at line 6, column 2: cannot tokenize"),
    (GML_HEAD + ' edge [ source 0 target 1 \n', "is not valid GML at line 6, column 1: expected ']'"),
    (GML_HEAD.replace('label "y" ]', 'label "y" colour "red" ]') + ' edge [ source 0 target 1 ]\n]',
     "node 'y' has unknown attribute(s) ['colour']"),
    (GML_HEAD + ' edge [ source 0 target 1 ]\n edge [ source 1 target 0 ]\n]', "has a cycle: "),
    (GML_HEAD + ' edge [ source 0 target 0 ]\n edge [ source 0 target 1 ]\n]', "self-loop on 't'"),
    (GML_HEAD.replace(" directed 1\n", "") + ' edge [ source 0 target 1 ]\n]', "must be directed"),
])
def test_bad_gml_graphs_are_named(tmp_path, text, message):
    with pytest.raises(GraphError) as err:
        load_graph(spec_for(tmp_path, text, ".gml"))
    assert message in str(err.value)


def test_gml_latent_flag_and_layout_blocks_are_read(tmp_path):
    gml = (GML_HEAD.replace('label "t" ]', 'label "t" graphics [ x 1.0 y 2.0 ] ]')
           + ' node [ id 2 label "u" latent 1 ]\n edge [ source 2 target 0 ]\n edge [ source 2 target 1 ]\n'
             ' edge [ source 0 target 1 ]\n]')
    graph = load_graph(spec_for(tmp_path, gml, ".gml"))
    assert graph.latent == ["u"] and graph.dag.number_of_edges() == 3


def test_edges_inside_subgraphs_and_edge_groups_are_kept():
    dag = parse_graph_text("digraph { subgraph cluster_a { u [latent=true]; u -> t; } u -> {y z}; t -> y; }", "g")
    assert sorted(dag.edges) == [("t", "y"), ("u", "t"), ("u", "y"), ("u", "z")]
    assert dag.nodes["u"]["latent"] is True


def test_strict_digraph_merges_repeated_edges():
    assert list(parse_graph_text("strict digraph { t -> y; t -> y; }", "g").edges) == [("t", "y")]


def test_read_graph_file_needs_no_spec(tmp_path):
    from tasks.graph.model import check_columns, check_roles, read_graph_file

    (tmp_path / "g.dot").write_text("digraph { u [latent=true]; u -> t; u -> y; t -> y; }")
    graph = read_graph_file(tmp_path / "g.dot")
    assert graph.observed == ["t", "y"]
    check_columns(graph, ["t", "y"])  # latent nodes need no column
    with pytest.raises(GraphError, match="marks the treatment 'u' latent"):
        check_roles(graph, treatment="u")
    with pytest.raises(GraphError, match="graph file .*absent.dot' not found"):
        read_graph_file(tmp_path / "absent.dot")
