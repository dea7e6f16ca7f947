"""Compare two versions of a causal graph: edges added or removed, nodes that became latent or observed.

A version is a file in the work tree or a file at a git revision (`PATH@REV`, read with `git show`),
so `whyflow graph diff data/graphs/g.dot@HEAD~1 data/graphs/g.dot` shows what a commit changed in
the analyst's assumptions. Formatting changes are invisible here, as in the graph's sha256.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from tasks.graph.model import CausalGraph, check_dag, graph_format, parse_graph_text, read_graph_file
from whyflow.errors import GraphError

__all__ = ["GraphDiff", "diff_graphs", "graph_at_revision", "read_graph_ref"]


@dataclass(frozen=True)
class GraphDiff:
    old: str
    new: str
    old_sha256: str
    new_sha256: str
    added_edges: list[tuple[str, str]]
    removed_edges: list[tuple[str, str]]
    reversed_edges: list[tuple[str, str]]  # old a -> b that is b -> a in the new graph (also in added/removed)
    added_nodes: list[str]
    removed_nodes: list[str]
    became_latent: list[str]
    became_observed: list[str]

    @property
    def same(self) -> bool:
        return self.old_sha256 == self.new_sha256

    def to_json(self) -> dict:
        return asdict(self) | {"same": self.same}


def diff_graphs(old: CausalGraph, new: CausalGraph) -> GraphDiff:
    """What changed from `old` to `new`, each list sorted."""
    old_edges, new_edges = set(old.dag.edges), set(new.dag.edges)
    shared = set(old.dag) & set(new.dag)
    latent_before, latent_after = set(old.latent), set(new.latent)
    return GraphDiff(
        old=old.source, new=new.source, old_sha256=old.sha256, new_sha256=new.sha256,
        added_edges=sorted(new_edges - old_edges), removed_edges=sorted(old_edges - new_edges),
        reversed_edges=sorted((a, b) for a, b in old_edges - new_edges if (b, a) in new_edges),
        added_nodes=sorted(set(new.dag) - set(old.dag)), removed_nodes=sorted(set(old.dag) - set(new.dag)),
        became_latent=sorted(shared & (latent_after - latent_before)),
        became_observed=sorted(shared & (latent_before - latent_after)),
    )


def graph_at_revision(path: str | Path, revision: str) -> CausalGraph:
    """The graph file as committed at a git revision (any `git rev-parse` name: HEAD~1, a tag, a sha)."""
    path = Path(path)
    name = f"{path}@{revision}"
    if revision.startswith("-"):
        raise GraphError(f"graph {name!r}: revision must not start with '-'")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise GraphError(f"graph {name!r}: folder {str(folder)!r} not found")
    done = subprocess.run(["git", "show", f"{revision}:./{path.name}"], cwd=folder, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["git failed"])[-1].removeprefix("fatal: ")
        raise GraphError(f"graph {name!r} could not be read from git: {reason}")
    return check_dag(CausalGraph(dag=parse_graph_text(done.stdout, name, graph_format(path)), source=name))


def read_graph_ref(ref: str, revision: str | None = None) -> CausalGraph:
    """`PATH`, or `PATH@REV` (an existing file whose name holds '@' is read as a file), or PATH at `revision`."""
    if revision is not None:
        return graph_at_revision(ref, revision)
    if "@" in ref and not Path(ref).is_file():
        path, _, rev = ref.rpartition("@")
        return graph_at_revision(path, rev)
    return read_graph_file(ref)
