"""The causal graph: load DOT/GML (or build it from declared confounders), check it, version it."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from whyflow.errors import GraphError
from whyflow.spec import AnalysisSpec
from whyflow.suggest import closest

__all__ = ["observed_nodes", "without_out_edges", "CausalGraph", "load_graph", "read_graph_file", "graph_format", "graph_from_roles", "parse_graph_text",
           "check_graph", "check_dag", "check_roles", "check_columns", "canonical_form"]

_TRUE = {"true", "yes", "1"}
_LAYOUT_ATTRIBUTES = {"label", "style", "color", "shape", "pos", "fillcolor", "fontcolor", "penwidth",
                      "width", "height", "fontsize", "fontname", "xlabel", "tooltip", "weight", "id", "name",
                      "graphics", "LabelGraphics"}  # the last two: yEd/Cytoscape GML layout blocks
_PYDOT_LOCATION = re.compile(r"^(?P<what>.*?)\s*\(at char \d+\),\s*\(line:(?P<line>\d+), col:(?P<col>\d+)\)")
_GML_LOCATION = re.compile(r"^(?P<what>.*?)\s*at \((?P<line>\d+), (?P<col>\d+)\)$")


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


def _name(text: str) -> str:
    return str(text).strip('"')


def _endpoints(end) -> list[str]:
    """An edge end is a node name or an anonymous subgraph `{a b}` (pydot gives its node table)."""
    return [_name(end)] if isinstance(end, str) else [_name(n) for n in end["nodes"]]


def _walk_pydot(dot, nodes: dict[str, dict], edges: list[tuple[str, str]]) -> None:
    """Node statements and edges of a graph and of its (nested) subgraphs, in file order."""
    for node in dot.get_node_list():
        nodes.setdefault(_name(node.get_name()), {}).update(node.get_attributes())
    for edge in dot.get_edge_list():
        edges.extend((a, b) for a in _endpoints(edge.get_source()) for b in _endpoints(edge.get_destination()))
    for sub in dot.get_subgraph_list():
        _walk_pydot(sub, nodes, edges)


def _from_pydot(text: str, name: str) -> nx.DiGraph:
    import pydot

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):  # pydot prints its parse error instead of raising
        parsed = pydot.graph_from_dot_data(text)
    if not parsed:
        detail = next((ln.strip() for ln in captured.getvalue().splitlines() if "line:" in ln), "")
        where = _PYDOT_LOCATION.match(detail)
        if where:
            detail = f" at line {where['line']}, column {where['col']}: {where['what']}"
        raise GraphError(f"graph {name!r} is not valid DOT" + (detail if where else f": {detail}" if detail else ""))
    if len(parsed) > 1:
        raise GraphError(f"graph {name!r} holds {len(parsed)} graphs; expected one digraph")
    dot = parsed[0]
    if dot.get_type() != "digraph":
        raise GraphError(f"graph {name!r} must be a 'digraph' (directed); got {dot.get_type()!r}")
    nodes: dict[str, dict] = {}
    edges: list[tuple[str, str]] = []
    _walk_pydot(dot, nodes, edges)
    if not dot.get_strict() and len(edges) != len(set(edges)):  # `strict digraph` merges repeats by definition
        seen: set[tuple[str, str]] = set()
        duplicate = next(e for e in edges if e in seen or seen.add(e))
        raise GraphError(f"graph {name!r} lists the edge {duplicate[0]} -> {duplicate[1]} more than once")
    dag = nx.DiGraph()
    dag.add_nodes_from(nodes.items())
    dag.add_edges_from(edges)
    return dag


def _from_gml(text: str, name: str) -> nx.DiGraph:
    label = "label" if re.search(r"\blabel\b", text) else "id"
    try:
        raw = nx.parse_gml(text, label=label)
    except nx.NetworkXError as exc:
        message = str(exc).splitlines()[0]
        where = _GML_LOCATION.match(message)
        if where:
            raise GraphError(f"graph {name!r} is not valid GML at line {where['line']}, column {where['col']}: "
                             f"{where['what']}") from None
        if "is duplicated" in message and message.startswith("edge"):
            multi = nx.parse_gml(re.sub(r"\bgraph\s*\[", "graph [ multigraph 1", text, count=1), label=label)
            a, b = next(e for e in multi.edges() if multi.number_of_edges(*e) > 1)
            raise GraphError(f"graph {name!r} lists the edge {a} -> {b} more than once") from None
        raise GraphError(f"graph {name!r} is not valid GML: {message}") from None
    except Exception as exc:  # the GML tokenizer raises plain errors on some inputs
        raise GraphError(f"graph {name!r} is not valid GML: {str(exc).splitlines()[0]}") from None
    if raw.is_multigraph() and raw.number_of_edges() != len(set(raw.edges())):
        a, b = next(e for e in raw.edges() if raw.number_of_edges(*e) > 1)
        raise GraphError(f"graph {name!r} lists the edge {a} -> {b} more than once")
    if not raw.is_directed():
        raise GraphError(f"graph {name!r} must be directed (GML 'directed 1')")
    return nx.DiGraph(raw)


def parse_graph_text(text: str, name: str, fmt: str = "dot") -> nx.DiGraph:
    """A DiGraph with a boolean 'latent' node attribute, from DOT or GML text."""
    raw = _from_gml(text, name) if fmt == "gml" else _from_pydot(text, name)
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


def graph_format(path: str | Path) -> str:
    """'gml' for .gml files, otherwise 'dot' (.dot, .gv)."""
    return "gml" if Path(path).suffix.lower() == ".gml" else "dot"


def read_graph_file(path: str | Path, name: str | None = None) -> CausalGraph:
    """A graph file on its own (no analysis spec), parsed and checked to be a DAG."""
    path = Path(path)
    name = name or str(path)
    if not path.is_file():
        raise GraphError(f"graph file {name!r} not found")
    dag = parse_graph_text(path.read_text(), name, graph_format(path))
    return check_dag(CausalGraph(dag=dag, source=name))


def load_graph(spec: AnalysisSpec) -> CausalGraph:
    """The spec's graph file, or the graph its declared roles imply; checked to be a DAG."""
    if spec.graph is None:
        return check_graph(graph_from_roles(spec), spec)
    path = spec.resolve(spec.graph)
    if not path.is_file():
        raise GraphError(f"analysis '{spec.name}': graph file {spec.graph!r} not found")
    dag = parse_graph_text(path.read_text(), spec.graph, graph_format(path))
    return check_graph(CausalGraph(dag=dag, source=spec.graph), spec)


def graph_from_roles(spec: AnalysisSpec) -> CausalGraph:
    """Without a drawn graph: confounders and the running variable cause T and Y, instruments cause T,
    modifiers cause Y."""
    dag = nx.DiGraph()
    dag.add_edge(spec.treatment, spec.outcome)
    for name in spec.confounders or []:
        dag.add_edges_from([(name, spec.treatment), (name, spec.outcome)])
    for name in spec.instruments:
        dag.add_edge(name, spec.treatment)
    if spec.running_variable:  # it assigns the treatment at the cutoff and may shape the outcome smoothly
        dag.add_edges_from([(spec.running_variable, spec.treatment), (spec.running_variable, spec.outcome)])
    for name in spec.effect_modifiers:
        if name not in dag:
            dag.add_edge(name, spec.outcome)
    nx.set_node_attributes(dag, False, "latent")
    return CausalGraph(dag=dag, source="confounders")


def check_dag(graph: CausalGraph) -> CausalGraph:
    """No self-loops and no cycles; a cycle is spelled out node by node."""
    dag, name = graph.dag, graph.source
    loops = list(nx.selfloop_edges(dag))
    if loops:
        raise GraphError(f"graph {name!r} has a self-loop on {loops[0][0]!r}")
    if not nx.is_directed_acyclic_graph(dag):
        cycle = [a for a, _ in nx.find_cycle(dag)]
        raise GraphError(f"graph {name!r} has a cycle: {' -> '.join(cycle + [cycle[0]])}")
    return graph


def check_roles(graph: CausalGraph, **roles: str | None) -> CausalGraph:
    """Each named role (treatment=..., outcome=...) is an observed node of the graph."""
    for role, node in roles.items():
        if node is None:
            continue
        if node not in graph.dag:
            raise GraphError(f"graph {graph.source!r} has no node for the {role} {node!r}")
        if graph.dag.nodes[node].get("latent"):
            raise GraphError(f"graph {graph.source!r} marks the {role} {node!r} latent; it must be observed")
    return graph


def check_columns(graph: CausalGraph, columns: list[str]) -> CausalGraph:
    """Every observed node is a column of the data; latent nodes need not be."""
    present = set(columns)
    missing = [n for n in graph.observed if n not in present]
    if missing:
        near = [f"{found!r} for {n!r}" for n in missing if (found := closest(n, columns)) is not None]
        typos = f"did you mean {', '.join(near)}? otherwise " if near else ""
        raise GraphError(f"graph {graph.source!r}: node(s) {missing} are not columns of the data and not marked "
                         f"latent ({typos}add [latent=true] to an unobserved variable)")
    return graph


def check_graph(graph: CausalGraph, spec: AnalysisSpec, columns: list[str] | None = None) -> CausalGraph:
    """A DAG that contains treatment and outcome, and whose observed nodes are columns (if given)."""
    check_dag(graph)
    check_roles(graph, treatment=spec.treatment, outcome=spec.outcome)
    return graph if columns is None else check_columns(graph, columns)


def observed_nodes(dag: nx.DiGraph) -> set[str]:
    """The nodes not marked latent."""
    return {n for n, d in dag.nodes(data=True) if not d.get("latent")}


def without_out_edges(dag: nx.DiGraph, nodes: set[str] | list[str]) -> nx.DiGraph:
    """The graph with every edge out of `nodes` removed (G underlined at `nodes` in Pearl's notation)."""
    cut = dag.copy()
    cut.remove_edges_from([e for n in nodes for e in dag.out_edges(n)])
    return cut
