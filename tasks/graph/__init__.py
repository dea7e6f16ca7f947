"""The causal graph: parse, check, diff and draw it, and test what it implies against the data."""

from tasks.graph.model import CausalGraph, load_graph

__all__ = ["CausalGraph", "load_graph"]
