"""The decomposition as bars with 95% intervals: direct, indirect and total effect per estimator."""

from __future__ import annotations

from pathlib import Path

__all__ = ["plot_mediation"]

_PARTS = (("nde", "direct (NDE)"), ("nie", "indirect (NIE)"), ("total", "total"))


def plot_mediation(report, path: str | Path) -> Path:
    """Write a PNG of NDE, NIE and total effect (and path-specific effects, when there are some)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: the flow and the tests have no display
    import matplotlib.pyplot as plt

    path = Path(path)
    fitted = {name: o for name, o in report.estimators.items() if o.decomposition is not None}
    with_paths = {name: o for name, o in fitted.items() if o.paths}
    panels = 2 if with_paths else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4), squeeze=False)
    width = 0.8 / max(len(fitted), 1)
    ax = axes[0][0]
    for k, (name, outcome) in enumerate(fitted.items()):
        effects = [getattr(outcome.decomposition, part) for part, _ in _PARTS]
        xs = [i + (k - (len(fitted) - 1) / 2) * width for i in range(len(_PARTS))]
        values = [e.estimate for e in effects]
        errors = [[e.estimate - e.ci_low for e in effects], [e.ci_high - e.estimate for e in effects]]
        ax.bar(xs, values, width, yerr=errors, capsize=4, label=f"{name} ({outcome.effects})")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(_PARTS)), [label for _, label in _PARTS])
    ax.set_ylabel(f"effect on {report.outcome} of {report.treatment} = 1 vs 0")
    ax.set_title(f"mediation through {', '.join(report.mediators)}  (95% CI)")
    if fitted:
        ax.legend(frameon=False)
    if with_paths:
        ax = axes[0][1]
        for k, (name, outcome) in enumerate(with_paths.items()):
            shift = (k - (len(with_paths) - 1) / 2) * 0.8 / len(with_paths)
            values = [row["estimate"] for row in outcome.paths]
            errors = [[row["estimate"] - row["ci_low"] for row in outcome.paths],
                      [row["ci_high"] - row["estimate"] for row in outcome.paths]]
            ax.barh([i + shift for i in range(len(values))], values, 0.8 / len(with_paths), xerr=errors,
                    capsize=4, label=name)
        labels = [f"via {row['via']}" if row["via"] else "direct" for row in next(iter(with_paths.values())).paths]
        ax.set_yticks(range(len(labels)), labels)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title("path-specific effects (mediators in causal order)")
        ax.legend(frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
