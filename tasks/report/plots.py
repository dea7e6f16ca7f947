"""Plots people would rather look at than read: propensity overlap and calibration, balance (love plot),
forest plot, and the sensitivity contour."""

from __future__ import annotations

import math
from pathlib import Path

__all__ = ["dose_response_plot", "propensity_plot", "love_plot", "forest_plot", "calibration_plot", "contour_plot"]


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


def love_plot(before: dict[str, float], after: dict[str, float], threshold: float, path: Path,
              ratio_before: dict[str, float] | None = None, ratio_after: dict[str, float] | None = None,
              after_label: str = "after weighting") -> Path:
    """|SMD| per covariate before and after (left) and, when given, variance ratios on a log scale (right)."""
    plt = _pyplot()
    names = sorted(before, key=lambda k: abs(before[k]))
    panels = 2 if ratio_before else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * (1 + 0.5 * (panels - 1)), 0.35 * len(names) + 1.6),
                             sharey=True, squeeze=False)
    ys = range(len(names))
    ax = axes[0][0]
    ax.scatter([abs(before[n]) for n in names], ys, label="before", color="#7570b3")
    ax.scatter([abs(after[n]) for n in names], ys, label=after_label, color="#e7298a", marker="D")
    ax.axvline(threshold, color="grey", linestyle="--", linewidth=1, label=f"gate {threshold}")
    ax.set_yticks(list(ys), names)
    ax.set_xlabel("|standardised mean difference|")
    ax.set_title("Covariate balance")
    ax.legend(loc="lower right", fontsize=8)
    if panels == 2:
        ax = axes[0][1]
        finite = (lambda d, n: d[n] if d[n] is not None and math.isfinite(d[n]) and d[n] > 0 else float("nan"))
        ax.scatter([finite(ratio_before, n) for n in names], ys, color="#7570b3")
        ax.scatter([finite(ratio_after, n) for n in names], ys, color="#e7298a", marker="D")
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        # log-scale minor labels collide ("2x10^-1 3x10^-1 ..."); plain labels at the decision points read better
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks([0.25, 0.5, 1.0, 2.0, 4.0], ["0.25", "0.5", "1", "2", "4"])
        for x in (0.5, 2.0):
            ax.axvline(x, color="grey", linestyle=":", linewidth=1)
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_xlabel("variance ratio treated / control")
        ax.set_title("Variance ratios (0.5-2 is fine)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def calibration_plot(calibration: dict, path: Path, model: str) -> Path:
    """Mean predicted propensity vs observed treated share per bin; the diagonal is perfect calibration."""
    plt = _pyplot()
    bins = calibration["bins"]
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.plot([b["predicted"] for b in bins], [b["observed"] for b in bins], "o-", color="#1f78b4")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean predicted propensity")
    ax.set_ylabel("observed share treated")
    ax.set_title(f"Propensity calibration ({model}); ECE {calibration['ece']:.3f}, Brier {calibration['brier']:.3f}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def contour_plot(ols: dict, path: Path, treatment: str) -> Path:
    """Cinelli & Hazlett (2020) contours of the adjusted estimate over the confounder's partial R2 with
    the treatment (x) and the outcome (y), the zero line in red and the benchmark bounds marked."""
    import numpy as np

    plt = _pyplot()
    bounds = [b for b in ols.get("bounds") or [] if b.get("adjusted_estimate") is not None]
    # Zoom on what matters: the benchmarks and the robustness value, where the zero line crosses the diagonal.
    reach = 2.0 * ols["rv_q1"]
    x_top = min(0.99, max(reach, *(1.4 * b["r2dz_x"] for b in bounds))) if bounds else min(0.99, max(reach, 0.05))
    y_top = min(0.99, max(reach, *(1.4 * b["r2yz_dx"] for b in bounds))) if bounds else min(0.99, max(reach, 0.05))
    rx, ry = np.meshgrid(np.linspace(0.0, x_top, 150), np.linspace(0.0, y_top, 150))
    bias = ols["se"] * np.sqrt(ry * rx / (1 - rx)) * math.sqrt(ols["dof"])
    adjusted = np.sign(ols["estimate"]) * (abs(ols["estimate"]) - bias)
    fig, ax = plt.subplots(figsize=(5.6, 4.8))
    lines = ax.contour(rx, ry, adjusted, levels=10, colors="#555555", linewidths=0.8)
    ax.clabel(lines, fontsize=7, fmt="%.3g")
    ax.contour(rx, ry, adjusted, levels=[0.0], colors="#d62728", linewidths=1.6, linestyles="--")
    ax.plot(0, 0, "^", color="black", clip_on=False)
    ax.annotate(f"unadjusted ({ols['estimate']:.3g})", (0, 0), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.plot(ols["rv_q1"], ols["rv_q1"], "o", color="#d62728")
    ax.annotate(f"RV {100 * ols['rv_q1']:.1f}%", (ols["rv_q1"], ols["rv_q1"]), textcoords="offset points",
                xytext=(6, 4), fontsize=8, color="#d62728")
    for k, b in enumerate(bounds):
        ax.plot(b["r2dz_x"], b["r2yz_dx"], "D", color="#d95f02", clip_on=False)
        ax.annotate(f"{b['label']}: {b['adjusted_estimate']:.3g}", (b["r2dz_x"], b["r2yz_dx"]),
                    textcoords="offset points", xytext=(8, 10 + 12 * k), fontsize=8, color="#d95f02",
                    arrowprops={"arrowstyle": "-", "color": "#d95f02", "linewidth": 0.6})
    ax.set_xlabel(f"partial R² of confounder with {treatment}")
    ax.set_ylabel("partial R² of confounder with the outcome")
    ax.set_title("Sensitivity of the estimate to a hidden confounder", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def forest_plot(rows: list[dict], path: Path, truth: float | None, label: str) -> Path:
    """rows: {'name', 'value', 'ci_low', 'ci_high'}; the naive difference and the truth are marked.
    When the naive difference is far from the adjusted estimates, a second panel zooms on them."""
    plt = _pyplot()
    rows = [r for r in rows if r["value"] is not None and math.isfinite(r["value"])]

    def finite(x):
        return x is not None and math.isfinite(x)

    adjusted = [v for r in rows if r["name"] != "naive" for v in (r["value"], r.get("ci_low"), r.get("ci_high"))
                if finite(v)] + ([truth] if finite(truth) else [])
    naive = [r["value"] for r in rows if r["name"] == "naive"]
    lo, hi = (min(adjusted), max(adjusted)) if adjusted else (0.0, 0.0)
    width = max(hi - lo, 1e-12)
    zoom = bool(adjusted and naive and not lo - width <= naive[0] <= hi + width)
    fig, axes = plt.subplots(1, 2 if zoom else 1, sharey=True, squeeze=False,
                             figsize=(9.6 if zoom else 6.4, 0.45 * len(rows) + 1.4))
    for ax in axes[0]:
        for y, row in enumerate(reversed(rows)):
            colour = "#999999" if row["name"] == "naive" else "#1f78b4"
            low, high = row.get("ci_low"), row.get("ci_high")
            if finite(low) and finite(high):
                ax.plot([low, high], [y, y], color=colour, linewidth=2)
            ax.plot(row["value"], y, "o", color=colour)
        ax.axvline(0, color="black", linewidth=0.8)
        if truth is not None:
            ax.axvline(truth, color="#33a02c", linestyle="--", label=f"known truth {truth:.4g}")
            ax.legend(loc="best", fontsize=8)
        ax.set_xlabel(label)
    axes[0][0].set_yticks(range(len(rows)), [r["name"] for r in reversed(rows)])
    axes[0][0].set_title("Estimates with 95% CI")
    if zoom:
        axes[0][1].set_xlim(lo - 0.15 * width, hi + 0.15 * width)
        axes[0][1].set_title(f"zoomed on the adjusted estimates (naive {naive[0]:.4g} off scale)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def dose_response_plot(curves: dict[str, dict], path: Path, treatment: str, outcome: str) -> Path:
    """mu(t) per estimator with its band (estimators' `details["dose_response"]`); below it, where the
    curves report it, the share of units for which each dose was nearly impossible: where that share is
    high the curve is the network's extrapolation, which a reader should see next to the band."""
    plt = _pyplot()
    shares = {name: curve["off_support_share"] for name, curve in curves.items() if curve.get("off_support_share")}
    if shares:
        fig, (ax, below) = plt.subplots(2, 1, figsize=(6.4, 5.2), sharex=True, height_ratios=(3, 1))
    else:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, curve in curves.items():
        ax.plot(curve["grid"], curve["mu"], label=name)
        ax.fill_between(curve["grid"], curve["low"], curve["high"], alpha=0.2)
    ax.set_ylabel(f"mean {outcome} at that dose")
    ax.set_title("Dose-response curve (95% band)")
    ax.legend(frameon=False)
    if shares:
        for name, share in shares.items():
            below.plot(curves[name]["grid"], share, label=name)
        below.set_ylim(0, 1)
        below.set_ylabel("off support")
        below.set_xlabel(treatment)
    else:
        ax.set_xlabel(treatment)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
