"""The decision layer's pictures: GATES bars, TOC and gain (Qini) curves with baselines, who responds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["gates_plot", "targeting_curves_plot", "who_responds_plot"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: the flow and the tests have no display
    import matplotlib.pyplot as plt

    return plt


def gates_plot(gates: list[dict], path: Path, *, ate: float, title: str = "Effect by predicted-effect group") -> Path:
    """Mean DR score per quantile group of the predicted CATE, with 95% CIs and the ATE line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    xs = np.arange(len(gates))
    est = np.array([g["estimate"] for g in gates])
    low, high = est - np.array([g["ci_low"] for g in gates]), np.array([g["ci_high"] for g in gates]) - est
    ax.bar(xs, est, yerr=[low, high], capsize=4, color="#1b9e77", alpha=0.8, label="group effect (95% CI)")
    ax.scatter(xs, [g["predicted"] for g in gates], color="#d95f02", zorder=3, label="mean predicted CATE")
    ax.axhline(ate, color="grey", linestyle="--", linewidth=1, label=f"ATE {ate:.3g} (constant effect)")
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.set_xticks(xs, [f"G{g['group']}\nn={g['n']:,}" for g in gates])
    ax.set_xlabel("group by predicted effect (lowest first)")
    ax.set_ylabel("effect")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def targeting_curves_plot(curve: dict, path: Path, *, title: str = "Targeting by predicted effect") -> Path:
    """Left: TOC(q) with its bootstrap band against 0 (random or constant targeting). Right: the gain
    curve q x mean effect among the top q (Qini-style) against random targeting's q x ATE."""
    plt = _pyplot()
    q, toc = np.array(curve["q"]), np.array(curve["toc"])
    ate = curve["ate"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    left.plot(q, toc, color="#7570b3", label="TOC")
    left.fill_between(q, curve["toc_low"], curve["toc_high"], color="#7570b3", alpha=0.2, label="95% band")
    left.axhline(0.0, color="grey", linestyle="--", linewidth=1, label="random / constant effect")
    left.set_xlabel("share treated, highest predicted effect first (q)")
    left.set_ylabel("effect among top q minus ATE")
    left.set_title("TOC curve")
    left.legend(fontsize=8)
    right.plot(q, q * (toc + ate), color="#e7298a", label="targeted by predicted effect")
    right.plot(q, q * ate, color="grey", linestyle="--", label="random targeting")
    right.axhline(0.0, color="black", linewidth=0.6, label="treat no one")
    right.set_xlabel("share treated (q)")
    right.set_ylabel("incremental outcome per unit")
    right.set_title("Gain (Qini) curve")
    right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _layout(tree_) -> dict[int, tuple[float, int]]:
    """x (leaves evenly spaced, in order) and depth for every node."""
    place, counter = {}, [0]

    def visit(node: int, depth: int) -> float:
        left, right = tree_.children_left[node], tree_.children_right[node]
        if left == right:
            x = float(counter[0])
            counter[0] += 1
        else:
            x = (visit(left, depth + 1) + visit(right, depth + 1)) / 2
        place[node] = (x, depth)
        return x

    visit(0, 0)
    return place


def who_responds_plot(effect_tree, path: Path, *, cost: float | None = None, outcome: str = "effect") -> Path:
    """The honest effect tree: split questions, and per leaf the effect, its 95% CI and the share of units."""
    plt = _pyplot()
    tree_, features = effect_tree.tree.tree_, effect_tree.features
    place = _layout(tree_)
    leaves = {row["leaf"]: row for row in effect_tree.leaves}
    width = max(x for x, _ in place.values()) + 1
    depth = max(d for _, d in place.values())
    fig, ax = plt.subplots(figsize=(max(6.4, 2.6 * width), 1.9 * (depth + 1)))
    effects = [row["effect"] for row in leaves.values() if row["effect"] is not None]
    centre = cost if cost is not None else 0.0
    span = max([abs(e - centre) for e in effects] + [1e-9])
    cmap = plt.get_cmap("RdYlGn")
    for node, (x, d) in place.items():
        left, right = tree_.children_left[node], tree_.children_right[node]
        if left != right:
            column, threshold = int(tree_.feature[node]), float(tree_.threshold[node])
            level = features.level[column]
            question = (f"{features.source[column]} = {level}?" if level is not None
                        else f"{features.source[column]} > {threshold:.4g}?")
            ax.text(x, -d, question, ha="center", va="center", fontsize=9,
                    bbox={"boxstyle": "round", "facecolor": "#eeeeee", "edgecolor": "#999999"})
            for child, label in ((left, "no"), (right, "yes")):
                cx, cd = place[child]
                ax.annotate("", xy=(cx, -cd + 0.25), xytext=(x, -d - 0.2),
                            arrowprops={"arrowstyle": "->", "color": "#777777"})
                ax.text((x + cx) / 2, -(d + cd) / 2, label, fontsize=8, color="#555555", ha="center")
            continue
        row = leaves[node]
        if row["effect"] is None:
            text, colour = f"n = {row['n']:,}\ntoo few to estimate", "#dddddd"
        else:
            text = (f"{outcome} {row['effect']:.3g}\n[{row['ci_low']:.3g}, {row['ci_high']:.3g}]\n"
                    f"{row['share']:.0%} of units")
            colour = cmap(0.5 + 0.5 * (row["effect"] - centre) / span)
        ax.text(x, -d, text, ha="center", va="center", fontsize=9,
                bbox={"boxstyle": "round", "facecolor": colour, "edgecolor": "#555555"})
    ax.set_xlim(-0.7, width - 0.3)
    ax.set_ylim(-depth - 0.6, 0.6)
    ax.axis("off")
    note = f"; green above the cost {cost:.4g}" if cost is not None else ""
    ax.set_title(f"Who responds (honest tree: leaf effects from held-out units, 95% CI{note})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
