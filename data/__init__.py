"""Demo data generators with known truth, and the causal graphs under data/graphs/."""
