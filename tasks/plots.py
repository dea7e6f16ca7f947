"""Plots people would rather look at than read: propensity overlap, balance (love plot), forest plot."""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["propensity_plot", "love_plot", "forest_plot"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def propensity_plot(histogram: dict, path: Path, treatment: str) -> Path:
    plt = _pyplot()
    edges = histogram["edges"]
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    width = edges[1] - edges[0]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for arm, colour in (("treated", "#d95f02"), ("control", "#1b9e77")):
        counts = histogram[arm]
        total = max(sum(counts), 1)
        ax.bar(centres, [c / total / width for c in counts], width=width, alpha=0.55, color=colour,
               label=f"{arm} ({treatment}={'1' if arm == 'treated' else '0'})")
    ax.set_xlabel("propensity score")
    ax.set_ylabel("density")
    ax.set_title("Propensity overlap by arm")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def love_plot(before: dict[str, float], after: dict[str, float], threshold: float, path: Path) -> Path:
    plt = _pyplot()
    names = sorted(before, key=lambda k: abs(before[k]))
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(names) + 1.4))
    ys = range(len(names))
    ax.scatter([abs(before[n]) for n in names], ys, label="before weighting", color="#7570b3")
    ax.scatter([abs(after[n]) for n in names], ys, label="after weighting", color="#e7298a", marker="D")
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=1, label=f"gate {threshold}")
    ax.set_yticks(list(ys), names)
    ax.set_xlabel("|standardised mean difference|")
    ax.set_title("Covariate balance")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def forest_plot(rows: list[dict], path: Path, truth: float | None, label: str) -> Path:
    """rows: {'name', 'value', 'ci_low', 'ci_high'}; the naive difference and the truth are marked."""
    plt = _pyplot()
    rows = [r for r in rows if r["value"] is not None and math.isfinite(r["value"])]
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(rows) + 1.4))
    for y, row in enumerate(reversed(rows)):
        colour = "#999999" if row["name"] == "naive" else "#1f78b4"
        low, high = row.get("ci_low"), row.get("ci_high")
        if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
            ax.plot([low, high], [y, y], color=colour, linewidth=2)
        ax.plot(row["value"], y, "o", color=colour)
    ax.set_yticks(range(len(rows)), [r["name"] for r in reversed(rows)])
    ax.axvline(0, color="black", linewidth=0.8)
    if truth is not None:
        ax.axvline(truth, color="#33a02c", linestyle="--", label=f"known truth {truth:.4g}")
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel(label)
    ax.set_title("Estimates with 95% CI")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
