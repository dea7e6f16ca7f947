"""Graph versions: diffs between files and between git revisions of one file."""

import pytest

from tasks.graph.model import CausalGraph, parse_graph_text
from tasks.graph.diff import diff_graphs, graph_at_revision, read_graph_ref
from tests.conftest import git
from whyflow.errors import GraphError


def graph(text: str, name: str = "g") -> CausalGraph:
    return CausalGraph(parse_graph_text(f"digraph {{ {text} }}", name), name)


def test_edges_nodes_and_latent_flags_are_compared():
    old = graph("u [latent=true]; u -> t; u -> y; x -> t; t -> y; m -> y;")
    new = graph("u; u -> t; u -> y; y -> m; t -> y; w [latent=true]; w -> t;")
    change = diff_graphs(old, new)
    assert change.added_edges == [("w", "t"), ("y", "m")]
    assert change.removed_edges == [("m", "y"), ("x", "t")]
    assert change.reversed_edges == [("m", "y")]
    assert (change.added_nodes, change.removed_nodes) == (["w"], ["x"])
    assert (change.became_latent, change.became_observed) == ([], ["u"])
    assert not change.same and change.to_json()["same"] is False


def test_reformatting_is_not_a_change():
    assert diff_graphs(graph("a -> b; b -> c;"), graph('"b" -> "c"\n a -> b')).same


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "graphs").mkdir(parents=True)
    path = root / "graphs" / "g.dot"
    path.write_text("digraph { x -> t; x -> y; t -> y; }")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "first")
    path.write_text("digraph { u [latent=true]; u -> t; u -> y; x -> t; x -> y; t -> y; }")
    git(root, "commit", "-qam", "second")
    path.write_text("digraph { u [latent=true]; u -> t; u -> y; x -> t; t -> y; }")
    return path


def test_git_revisions_of_one_file(repo):
    first = graph_at_revision(repo, "HEAD~1")
    assert first.source == f"{repo}@HEAD~1" and first.latent == []
    change = diff_graphs(read_graph_ref(f"{repo}@HEAD~1"), read_graph_ref(f"{repo}@HEAD"))
    assert change.added_nodes == ["u"] and change.added_edges == [("u", "t"), ("u", "y")]
    work_tree = diff_graphs(read_graph_ref(str(repo), revision="HEAD"), read_graph_ref(str(repo)))
    assert work_tree.removed_edges == [("x", "y")] and work_tree.added_edges == []


@pytest.mark.parametrize("revision, message", [
    ("nope", "could not be read from git: "),
    ("-p", "revision must not start with '-'"),
])
def test_bad_revisions_are_one_line_errors(repo, revision, message):
    with pytest.raises(GraphError, match=message):
        graph_at_revision(repo, revision)


def test_a_file_absent_at_the_revision(repo):
    (repo.parent / "new.dot").write_text("digraph { t -> y; }")
    with pytest.raises(GraphError, match="new.dot@HEAD' could not be read from git: path .* not in 'HEAD'"):
        read_graph_ref(f"{repo.parent / 'new.dot'}@HEAD")
