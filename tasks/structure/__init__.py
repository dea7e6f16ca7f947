"""Structure suggestions from data (PC, NOTEARS) under prior knowledge, shown as advice against the user's graph."""

from tasks.structure.pc import StructureSuggestion, suggest_structure

__all__ = ["StructureSuggestion", "suggest_structure"]
