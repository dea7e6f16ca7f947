"""Draw a causal graph to PNG/SVG/PDF: latent nodes and their edges dashed, treatment and outcome coloured.

Graphviz's `dot` lays graphs out best and is used when it is on PATH; without it (no system
packages needed) matplotlib draws the graph in layers from causes to effects, left to right.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import networkx as nx

from tasks.graph.model import CausalGraph, check_roles
from whyflow.errors import GraphError

__all__ = ["render_graph", "styled_dot", "FORMATS"]

log = logging.getLogger(__name__)
FORMATS = ("png", "svg", "pdf")
_TREATMENT, _OUTCOME, _PLAIN, _LATENT = "#fdb863", "#80b1d3", "#f7f7f7", "#ffffff"


def _fill(node: str, treatment: str | None, outcome: str | None, latent: bool) -> str:
    return _TREATMENT if node == treatment else _OUTCOME if node == outcome else _LATENT if latent else _PLAIN


def styled_dot(graph: CausalGraph, treatment: str | None = None, outcome: str | None = None) -> str:
    """The graph as DOT with whyflow's drawing conventions (for Graphviz)."""
    latent = set(graph.latent)
    quote = (lambda s: '"' + s.replace('"', '\\"') + '"')
    lines = ["digraph {", "  rankdir=LR;", '  node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for node in sorted(graph.dag.nodes):
        style = '"rounded,dashed,filled"' if node in latent else '"rounded,filled"'
        width = ", penwidth=2" if node in (treatment, outcome) else ""
        fill = quote(_fill(node, treatment, outcome, node in latent))
        lines.append(f"  {quote(node)} [style={style}, fillcolor={fill}{width}];")
    for a, b in sorted(graph.dag.edges):
        dashed = " [style=dashed]" if a in latent or b in latent else ""
        lines.append(f"  {quote(a)} -> {quote(b)}{dashed};")
    return "\n".join(lines + ["}"]) + "\n"


def _layers(dag: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Causes left, effects right: x is the topological generation; within a generation nodes follow
    the mean height of their parents (fewer crossings), and odd generations sit half a step lower so
    that edges skipping a generation pass between the boxes rather than through them."""
    positions: dict[str, tuple[float, float]] = {}
    for x, generation in enumerate(nx.topological_generations(dag)):
        def height(node: str) -> float:
            parents = [positions[p][1] for p in dag.predecessors(node) if p in positions]
            return -sum(parents) / len(parents) if parents else 0.0
        column = sorted(generation, key=lambda n: (height(n), n))
        for i, node in enumerate(column):
            positions[node] = (float(x), 1.5 * ((len(column) - 1) / 2.0 - i) - 0.75 * (x % 2))
    return positions


def _matplotlib(graph: CausalGraph, path: Path, treatment: str | None, outcome: str | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    positions = _layers(graph.dag)
    latent = set(graph.latent)
    width = max(x for x, _ in positions.values()) + 1 if positions else 1
    height = max((sum(1 for p in positions.values() if p[0] == x) for x in range(int(width))), default=1)
    fig, ax = plt.subplots(figsize=(max(4.0, 2.4 * width), max(3.0, 1.1 * height + 1.6)))
    boxes = {}
    for node, (x, y) in positions.items():
        boxes[node] = ax.text(x, y, node, ha="center", va="center", fontsize=9, zorder=3,
                              bbox={"boxstyle": "round,pad=0.4", "linestyle": "--" if node in latent else "-",
                                    "linewidth": 2 if node in (treatment, outcome) else 1,
                                    "facecolor": _fill(node, treatment, outcome, node in latent),
                                    "edgecolor": "#333333"})
    fig.canvas.draw()  # the text boxes get their size here; arrows are clipped to them
    for a, b in graph.dag.edges:
        dashed = a in latent or b in latent
        span = positions[b][0] - positions[a][0]
        rank = sorted(graph.dag.successors(a), key=lambda n: positions[n]).index(b)
        # longer jumps bow further round the boxes between; fans from one source spread apart
        bend = 0.0 if span <= 1 else (0.1 + 0.05 * (span - 2) + 0.07 * rank) * (1 if rank % 2 else -1)
        ax.annotate("", xy=positions[b], xytext=positions[a], zorder=2,
                    arrowprops={"arrowstyle": "-|>", "color": "#555555", "linestyle": "--" if dashed else "-",
                                "patchA": boxes[a].get_bbox_patch(), "patchB": boxes[b].get_bbox_patch(),
                                "shrinkA": 2, "shrinkB": 2, "connectionstyle": f"arc3,rad={bend:.2f}"})
    ax.set_xlim(-0.7, width - 0.3)
    ys = [y for _, y in positions.values()] or [0.0]
    ax.set_ylim(min(ys) - 1.4, max(ys) + 1.2)
    ax.axis("off")
    legend = [Patch(facecolor=_TREATMENT, edgecolor="#333333", label=f"treatment: {treatment}")] if treatment else []
    legend += [Patch(facecolor=_OUTCOME, edgecolor="#333333", label=f"outcome: {outcome}")] if outcome else []
    legend += [Patch(facecolor=_LATENT, edgecolor="#333333", linestyle="--", label="latent")] if latent else []
    if legend:
        ax.legend(handles=legend, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(legend), fontsize=8,
                  frameon=False)
    ax.set_title(graph.source, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)


def render_graph(graph: CausalGraph, path: str | Path, treatment: str | None = None, outcome: str | None = None,
                 engine: str = "auto") -> tuple[Path, str]:
    """Write the drawing; returns (path, engine used). engine: auto (Graphviz if on PATH), graphviz, matplotlib."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise GraphError(f"output {str(path)!r} must end in {', '.join('.' + f for f in FORMATS)}; got {path.suffix!r}")
    if engine not in ("auto", "graphviz", "matplotlib"):
        raise GraphError(f"engine must be auto, graphviz or matplotlib; got {engine!r}")
    check_roles(graph, treatment=treatment, outcome=outcome)
    if not path.parent.is_dir():
        raise GraphError(f"output folder {str(path.parent)!r} does not exist")
    dot = shutil.which("dot")
    if engine == "graphviz" and dot is None:
        raise GraphError("engine 'graphviz' needs Graphviz's `dot` on PATH; use --engine matplotlib")
    if dot is not None and engine != "matplotlib":
        done = subprocess.run([dot, f"-T{fmt}", "-o", str(path)], input=styled_dot(graph, treatment, outcome),
                              capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return path, "graphviz"
        log.warning("Graphviz failed (%s); drawing with matplotlib", done.stderr.strip()[:200])
    _matplotlib(graph, path, treatment, outcome)
    return path, "matplotlib"
