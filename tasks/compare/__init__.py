"""`whyflow compare`: what changed between two runs, and why the estimate moved (exact replays)."""
