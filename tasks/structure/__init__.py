"""Structure suggestions from data (PC, NOTEARS) under prior knowledge, shown as advice against the user's graph."""

from tasks.structure.knowledge import KnowledgeError, PriorKnowledge, parse_edge, parse_tiers, role_tiers
from tasks.structure.notears import notears_linear
from tasks.structure.suggest import METHODS, StructureSuggestion, structure_knowledge, suggest_structure

__all__ = ["StructureSuggestion", "suggest_structure", "structure_knowledge", "METHODS", "PriorKnowledge",
           "KnowledgeError", "parse_edge", "parse_tiers", "role_tiers", "notears_linear"]
