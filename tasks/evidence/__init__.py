"""Evidence about an estimate: overlap and balance, refutation, sensitivity to hidden confounding."""
