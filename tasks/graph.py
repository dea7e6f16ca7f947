"""The causal graph: load DOT/GML (or build it from declared confounders), check it, version it."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from whyflow.errors import GraphError
from whyflow.spec import AnalysisSpec

__all__ = ["CausalGraph", "load_graph", "graph_from_roles", "parse_graph_text", "check_graph", "canonical_form"]

_TRUE = {"true", "yes", "1"}
_LAYOUT_ATTRIBUTES = {"label", "style", "color", "shape", "pos", "fillcolor", "fontcolor", "penwidth",
                      "width", "height", "fontsize", "fontname", "xlabel", "tooltip", "weight", "id", "name"}


@dataclass(frozen=True)
class CausalGraph:
    """A DAG whose nodes are columns of the data, or latent (unobserved) variables."""

    dag: nx.DiGraph
    source: str

    @property
    def latent(self) -> list[str]:
        return sorted(n for n, d in self.dag.nodes(data=True) if d.get("latent"))

    @property
    def observed(self) -> list[str]:
        return sorted(n for n, d in self.dag.nodes(data=True) if not d.get("latent"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(canonical_form(self.dag).encode()).hexdigest()

    def to_dot(self) -> str:
        lines = ["digraph {"]
        for node in sorted(self.dag.nodes):
            lines.append(f'  "{node}" [latent=true];' if self.dag.nodes[node].get("latent") else f'  "{node}";')
        lines += [f'  "{a}" -> "{b}";' for a, b in sorted(self.dag.edges)]
        return "\n".join(lines + ["}"]) + "\n"


def canonical_form(dag: nx.DiGraph) -> str:
    """Nodes with their latent flag and edges, sorted: formatting and order do not change it."""
    nodes = sorted((str(n), bool(d.get("latent"))) for n, d in dag.nodes(data=True))
    edges = sorted((str(a), str(b)) for a, b in dag.edges)
    return json.dumps({"nodes": nodes, "edges": edges}, separators=(",", ":"))


def _is_latent(attributes: dict) -> bool:
    latent = str(attributes.get("latent", "")).strip('"').lower() in _TRUE
    unobserved = str(attributes.get("observed", "")).strip('"').lower() in {"no", "false", "0"}
    return latent or unobserved


def _from_pydot(text: str, name: str) -> nx.DiGraph:
    import pydot

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):  # pydot prints its parse error instead of raising
        parsed = pydot.graph_from_dot_data(text)
    if not parsed:
        detail = next((ln.strip() for ln in captured.getvalue().splitlines() if "line:" in ln), "")
        raise GraphError(f"graph {name!r} is not valid DOT" + (f": {detail}" if detail else ""))
    if len(parsed) > 1:
        raise GraphError(f"graph {name!r} holds {len(parsed)} graphs; expected one digraph")
    dot = parsed[0]
    if dot.get_type() != "digraph":
        raise GraphError(f"graph {name!r} must be a 'digraph' (directed); got {dot.get_type()!r}")
    multi = nx.nx_pydot.from_pydot(dot)
    if multi.number_of_edges() != len(set(multi.edges())):
        duplicate = next(e for e in multi.edges() if multi.number_of_edges(*e) > 1)
        raise GraphError(f"graph {name!r} lists the edge {duplicate[0]} -> {duplicate[1]} more than once")
    return nx.DiGraph(multi)


def parse_graph_text(text: str, name: str, fmt: str = "dot") -> nx.DiGraph:
    """A DiGraph with a boolean 'latent' node attribute, from DOT or GML text."""
    if fmt == "gml":
        try:
            raw = nx.parse_gml(text, label="id" if "label" not in text else "label")
        except Exception as exc:
            raise GraphError(f"graph {name!r} is not valid GML: {str(exc).splitlines()[0]}") from None
        if raw.is_multigraph() and raw.number_of_edges() != len(set(raw.edges())):
            raise GraphError(f"graph {name!r} lists an edge more than once")
        if not raw.is_directed():
            raise GraphError(f"graph {name!r} must be directed (GML 'directed 1')")
        raw = nx.DiGraph(raw)
    else:
        raw = _from_pydot(text, name)
    dag = nx.DiGraph()
    for node, attributes in raw.nodes(data=True):
        label = str(node).strip('"')
        if label in {"node", "edge", "graph", "\\n"}:
            continue
        unknown = set(attributes) - _LAYOUT_ATTRIBUTES - {"latent", "observed"}
        if unknown:
            raise GraphError(f"graph {name!r}: node {label!r} has unknown attribute(s) {sorted(unknown)}; "
                             "use latent=true to mark an unobserved variable")
        dag.add_node(label, latent=_is_latent(attributes))
    for a, b in raw.edges():
        a, b = str(a).strip('"'), str(b).strip('"')
        dag.add_node(a, latent=dag.nodes[a].get("latent", False) if a in dag else False)
        dag.add_node(b, latent=dag.nodes[b].get("latent", False) if b in dag else False)
        dag.add_edge(a, b)
    return dag


def load_graph(spec: AnalysisSpec) -> CausalGraph:
    """The spec's graph file, or the graph its declared roles imply; checked to be a DAG."""
    if spec.graph is None:
        return check_graph(graph_from_roles(spec), spec)
    path = spec.resolve(spec.graph)
    if not path.is_file():
        raise GraphError(f"analysis '{spec.name}': graph file {spec.graph!r} not found")
    fmt = "gml" if path.suffix.lower() == ".gml" else "dot"
    dag = parse_graph_text(path.read_text(), spec.graph, fmt)
    return check_graph(CausalGraph(dag=dag, source=spec.graph), spec)


def graph_from_roles(spec: AnalysisSpec) -> CausalGraph:
    """Without a drawn graph: confounders cause T and Y, instruments cause T, modifiers cause Y."""
    dag = nx.DiGraph()
    dag.add_edge(spec.treatment, spec.outcome)
    for name in spec.confounders or []:
        dag.add_edges_from([(name, spec.treatment), (name, spec.outcome)])
    for name in spec.instruments:
        dag.add_edge(name, spec.treatment)
    for name in spec.effect_modifiers:
        if name not in dag:
            dag.add_edge(name, spec.outcome)
    nx.set_node_attributes(dag, False, "latent")
    return CausalGraph(dag=dag, source="confounders")


def check_graph(graph: CausalGraph, spec: AnalysisSpec, columns: list[str] | None = None) -> CausalGraph:
    """A DAG that contains treatment and outcome, and whose observed nodes are columns (if given)."""
    dag, name = graph.dag, graph.source
    loops = list(nx.selfloop_edges(dag))
    if loops:
        raise GraphError(f"graph {name!r} has a self-loop on {loops[0][0]!r}")
    if not nx.is_directed_acyclic_graph(dag):
        cycle = [a for a, _ in nx.find_cycle(dag)]
        raise GraphError(f"graph {name!r} has a cycle: {' -> '.join(cycle + [cycle[0]])}")
    for role in ("treatment", "outcome"):
        node = getattr(spec, role)
        if node not in dag:
            raise GraphError(f"graph {name!r} has no node for the {role} {node!r}")
        if dag.nodes[node].get("latent"):
            raise GraphError(f"graph {name!r} marks the {role} {node!r} latent; it must be observed")
    if columns is not None:
        missing = [n for n in graph.observed if n not in set(columns)]
        if missing:
            raise GraphError(f"graph {name!r}: node(s) {missing} are not columns of the data and not marked "
                             "latent (add [latent=true] to an unobserved variable)")
    return graph
