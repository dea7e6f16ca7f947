"""The comparison as a self-contained HTML page (waterfall of the shares, the diffs) and as a new MLflow
run tagged whyflow.compares=<A>,<B> that links both runs."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from tasks.compare.shapley import FACTORS
from tasks.record import tracking
from whyflow.constants import TAG_COMPARES
from whyflow.format import number

__all__ = ["compare_experiment", "waterfall_png", "render_comparison", "log_comparison"]

log = logging.getLogger(__name__)
_COLOURS = {"data": "#1b9e77", "graph": "#d95f02", "params": "#7570b3", "code": "#e7298a"}
_STYLE = ("body{font-family:system-ui,sans-serif;max-width:1000px;margin:1.5em auto;color:#222}"
          "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
          "text-align:right}td.t,th{text-align:left}img{max-width:100%}.note{color:#a33}code{font-size:90%}")


def compare_experiment(analysis: str) -> str:
    """Comparisons live beside the analysis's experiment, not in it (the monitor reads that one)."""
    return f"{analysis}-compare"


def waterfall_png(estimates: dict[str, dict]) -> bytes:
    """One waterfall per estimator: A, then each factor's share, then B."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n, e in estimates.items() if e.get("attribution")]
    fig, axes = plt.subplots(len(names) or 1, 1, figsize=(7.0, 2.6 * max(1, len(names))), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        e = estimates[name]
        level, labels = e["a"], ["A"]
        ax.bar(0, e["a"], color="#999999")
        for i, factor in enumerate(FACTORS, start=1):
            share = e["attribution"][factor]
            ax.bar(i, share, bottom=level, color=_COLOURS[factor])
            ax.text(i, level + share, f"{share:+.3g}", ha="center", va="bottom" if share >= 0 else "top", fontsize=8)
            level += share
            labels.append(factor)
        ax.bar(len(FACTORS) + 1, e["b"], color="#444444")
        labels.append("B")
        ax.set_xticks(range(len(labels)), labels)
        low = min(e["a"], e["b"], level) - abs(e["b"] - e["a"]) * 0.6 - 1e-9
        high = max(e["a"], e["b"], *(e["a"] + v for v in e["attribution"].values())) + abs(e["b"] - e["a"]) * 0.6 + 1e-9
        ax.set_ylim(low, high)
        ax.set_title(f"{name}: {e['a']:.4g} -> {e['b']:.4g} ({e['method']})", fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"<td>{html.escape(number(value, 4))}</td>"
    if isinstance(value, (list, dict)):
        value = json.dumps(value)
    return f"<td class='t'>{html.escape(str(value))}</td>"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _attribution(estimates: dict[str, dict]) -> str:
    rows = []
    for name, e in estimates.items():
        shares = e.get("attribution") or {}
        inter = (e.get("interactions") or {}).get("residual")
        rows.append([name, e["a"], e["b"], e.get("change"), *(shares.get(f) for f in FACTORS), inter,
                     e.get("method") or e.get("error")])
    notes = "".join(f"<p class='note'>{html.escape(n)}: {html.escape(e['note'])}</p>" for n, e in estimates.items()
                    if e.get("note"))
    firsts = [[n, *(e["interactions"]["first_order"][f] for f in FACTORS)] for n, e in estimates.items()
              if e.get("interactions")]
    return (_table(["estimator", "A", "B", "B - A", *FACTORS, "residual interaction", "method"], rows) + notes +
            "<p>Shares are exact Shapley values over the 16 replays (they sum to B - A); first-order effects swap one "
            "factor alone from A's versions; the residual interaction is B - A minus their sum.</p>" +
            _table(["first-order effect", *FACTORS], firsts))


def _data(data: dict) -> str:
    units = (f"; units added {data['units_added']:,}, removed {data['units_removed']:,} (by "
             f"{html.escape(str(data['unit_id']))})" if data.get("units_added") is not None else "")
    head = (f"<p>md5 {html.escape(data['md5_a'][:12])} -> {html.escape(data['md5_b'][:12])}; rows "
            f"{data['rows_a']:,} -> {data['rows_b']:,}{units}; columns added {data['columns_added'] or 'none'}, "
            f"removed {data['columns_removed'] or 'none'}</p>")
    shifts = sorted(data["shifts"], key=lambda s: -abs(s["smd"] if s["smd"] is not None else s["ks"]))
    return head + _table(["column", "SMD", "KS / TV", "mean A", "mean B"],
                         [[s["column"], s["smd"], s["ks"], s["mean_a"], s["mean_b"]] for s in shifts[:30]])


def _graph(graph: dict) -> str:
    rows = [["edges added", [f"{a} -> {b}" for a, b in graph["added_edges"]]],
            ["edges removed", [f"{a} -> {b}" for a, b in graph["removed_edges"]]],
            ["became latent", graph["became_latent"]], ["became observed", graph["became_observed"]],
            ["nodes added", graph["added_nodes"]], ["nodes removed", graph["removed_nodes"]],
            ["design A", graph["design_a"]], ["design B", graph["design_b"]]]
    return _table(["what", "value"], rows)


def render_comparison(result: dict, path: Path) -> Path:
    """compare.html: the attribution with its waterfall, then each diff and the replays."""
    changes = result["changes"]
    png = base64.b64encode(waterfall_png(result["estimates"])).decode() if result["estimates"] else ""
    code = changes["code"]
    parts = [
        f"<h1>Why the estimate moved: {html.escape(result['analysis'])}</h1>",
        f"<p>run A <code>{html.escape(result['runs'][0])}</code> -> run B <code>{html.escape(result['runs'][1])}</code>"
        f"; changed: {', '.join(k for k, v in changes['changed'].items() if v) or 'nothing'}</p>",
        "<h2>Attribution</h2>", _attribution(result["estimates"]),
        f'<figure><img alt="waterfall of the shares" src="data:image/png;base64,{png}"></figure>' if png else "",
        "<h2>Data</h2>", _data(changes["data"]), "<h2>Graph</h2>", _graph(changes["graph"]),
        "<h2>Params</h2>", _table(["key", "A", "B"], [[p["key"], p["a"], p["b"]] for p in changes["params"]]),
        "<h2>Code</h2>", f"<p>{html.escape(code['commit_a'][:12])} -> {html.escape(code['commit_b'][:12])}: "
        f"{html.escape(code['stat'] or 'no difference')}" + (" (only params, graph, data or docs files: the same code)"
                                                             if code["same_code"] and code["files"] else "") + "</p>",
        _table(["commits from A to B"], [[c] for c in code["commits"]]), _table(["file"], [[f] for f in code["files"]]),
        "<h2>Environment</h2>", _table(["package: A -> B"], [[e] for e in changes["environment"]]),
        "<h2>Replays</h2>", _table(["combinations (factors from B)", "status", "seconds", "estimates", "error"],
                                   [[", ".join(r["combinations"]), r["status"], r["seconds"], r["estimates"],
                                     r["error"] or ""] for r in result["replays"]]),
    ]
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>whyflow compare</title>"
                    f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>")
    return path


def log_comparison(base_dir: Path, result: dict) -> str:
    """A new MLflow run in `<analysis>-compare`, tagged and noted with links to both runs."""
    from mlflow.entities import Metric, Param

    store = tracking.client(base_dir)
    run_a, run_b = result["runs"]
    experiment = compare_experiment(result["analysis"])
    found = store.get_experiment_by_name(experiment)
    if found is not None:
        experiment_id = found.experiment_id
    else:
        location = None if "MLFLOW_TRACKING_URI" in os.environ else (base_dir / "mlartifacts" / experiment).as_uri()
        experiment_id = store.create_experiment(experiment, artifact_location=location)
    exp_a, exp_b = (store.get_run(r).info.experiment_id for r in (run_a, run_b))
    note = (f"Why the estimate moved from run [{run_a}](#/experiments/{exp_a}/runs/{run_a}) to run "
            f"[{run_b}](#/experiments/{exp_b}/runs/{run_b}): see compare.html.")
    run = store.create_run(experiment_id, run_name=f"compare {run_a[:8]} {run_b[:8]}",
                           tags={TAG_COMPARES: f"{run_a},{run_b}", "mlflow.note.content": note,
                                 "whyflow.compare.analysis": result["analysis"]})
    run_id = run.info.run_id
    metrics = []
    for name, e in result["estimates"].items():
        shares = ((f"share.{f}", v) for f, v in (e["attribution"] or {}).items())
        for key, value in (("a", e["a"]), ("b", e["b"]), *shares):
            if isinstance(value, (int, float)):
                metrics.append(Metric(f"compare.{key}.{name}", float(value), 0, 0))
    store.log_batch(run_id, metrics=metrics, params=[Param("run_a", run_a), Param("run_b", run_b)])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        render_comparison(result | {"mlflow_run_id": run_id}, folder / "compare.html")
        (folder / "compare.json").write_text(json.dumps(result, indent=1, default=str))
        store.log_artifacts(run_id, str(folder))
    store.set_terminated(run_id, "FINISHED")
    return run_id
