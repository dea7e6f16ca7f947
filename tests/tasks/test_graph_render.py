"""Drawing graphs: matplotlib without system packages, Graphviz's styled DOT when `dot` is present."""

import pytest

from tasks.graph.model import CausalGraph, parse_graph_text
from tasks.graph.render import render_graph, styled_dot
from whyflow.errors import GraphError

LATENT = CausalGraph(parse_graph_text("digraph { u [latent=true]; u -> t; u -> y; x -> t; x -> y; t -> y; }", "g"), "g")


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_matplotlib_draws_every_format(tmp_path, suffix, magic):
    path, engine = render_graph(LATENT, tmp_path / f"g{suffix}", "t", "y", engine="matplotlib")
    assert engine == "matplotlib" and path.read_bytes().startswith(magic)


def test_auto_falls_back_to_matplotlib_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert render_graph(LATENT, tmp_path / "g.png")[1] == "matplotlib"
    with pytest.raises(GraphError, match="needs Graphviz's `dot` on PATH"):
        render_graph(LATENT, tmp_path / "g.png", engine="graphviz")


def test_svg_dashes_latent_nodes_and_edges(tmp_path):
    text = render_graph(LATENT, tmp_path / "g.svg", "t", "y", engine="matplotlib")[0].read_text()
    assert "stroke-dasharray" in text


def test_graphviz_input_styles_latent_and_roles():
    dot = styled_dot(LATENT, "t", "y")
    assert '"u" [style="rounded,dashed,filled"' in dot and '"u" -> "t" [style=dashed];' in dot
    assert '"x" -> "t";' in dot and "penwidth=2" in dot


@pytest.mark.parametrize("kwargs, message", [
    ({"path": "g.gif"}, "must end in .png, .svg, .pdf"),
    ({"treatment": "absent"}, "has no node for the treatment 'absent'"),
    ({"engine": "ascii"}, "engine must be auto, graphviz or matplotlib"),
])
def test_bad_render_requests(tmp_path, kwargs, message):
    path = tmp_path / kwargs.pop("path", "g.png")
    with pytest.raises(GraphError, match=message):
        render_graph(LATENT, path, **kwargs)
