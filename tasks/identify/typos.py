"""Graph nodes whose names look like typos of other nodes.

Without data to check the nodes against, a misspelt node (`regoin -> coupon_sent` beside
`region -> gmv`) is just one more variable, and one that only points into the treatment has exactly
the structure of an instrument. `whyflow graph identify` sets such nodes aside instead of calling them
instruments, and says which name they look like.
"""

from __future__ import annotations

import networkx as nx

from whyflow.suggest import looks_like_typo

__all__ = ["typo_suspects"]


def typo_suspects(dag: nx.DiGraph) -> dict[str, str]:
    """Each node whose name is one keyboard slip from another node's name, with that other name."""
    nodes = sorted(map(str, dag.nodes))
    return {a: b for a in nodes for b in nodes if looks_like_typo(a, b)}
