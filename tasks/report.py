"""The run report: one self-contained HTML page (images inlined), business answer first, evidence below."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

__all__ = ["render_report", "headline"]


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_num(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path | None, alt: str) -> str:
    if path is None or not path.exists():
        return ""
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def headline(results: dict) -> str:
    """One sentence for a business reader."""
    ok = [e for e in results["estimates"] if e["status"] == "ok"]
    spec = results["spec"]
    if not ok:
        return "No estimator produced an estimate; see the errors below."
    low = min(e["ci_low"] for e in ok if e["ci_low"] is not None)
    high = max(e["ci_high"] for e in ok if e["ci_high"] is not None)
    values = sorted(e["ate"] for e in ok)
    middle = values[len(values) // 2]
    return (f"Sending {spec['treatment']} changed {spec['outcome']} by about {middle:.4g} per unit "
            f"({spec['estimand'].upper()}); {len(ok)} estimators agree on a range of {low:.4g} to {high:.4g} "
            f"(95% CIs), against a naive difference of {results['naive']['ate']:.4g}.")


_STYLE = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222;line-height:1.4}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.answer{font-size:1.25em;background:#eef6ee;
padding:.8em 1em;border-left:5px solid #33a02c}img{max-width:100%}code{font-size:.9em}.fail{color:#b00}"""


def render_report(results: dict, plots: dict[str, Path], path: Path) -> Path:
    """Write report.html from the run's results dict and plot files."""
    spec, versions = results["spec"], results["versions"]
    sections = [f"<h1>whyflow · {html.escape(spec['name'])}</h1>",
                f"<p>Question: did <code>{html.escape(spec['treatment'])}</code> change "
                f"<code>{html.escape(spec['outcome'])}</code>, and by how much?</p>",
                f'<section id="answer"><p class="answer">{html.escape(headline(results))}</p></section>']
    rows = [[e["estimator"], e["estimand"], e["ate"], e["ci_low"], e["ci_high"], e["p_value"], e["n"],
             e["seconds"], e["status"] + (f": {e['error']}" if e["error"] else "")] for e in results["estimates"]]
    naive = results["naive"]
    rows.append(["naive", "difference in means", naive["ate"], naive["ci_low"], naive["ci_high"],
                 naive["p_value"], naive["n"], None, "unadjusted"])
    if results.get("truth"):
        rows.append(["known truth", spec["estimand"], results["truth"].get(spec["estimand"]), None, None, None,
                     None, None, "from the generator"])
    sections += ['<section id="estimates"><h2>Estimates</h2>',
                 _table(["estimator", "estimand", "estimate", "95% low", "95% high", "p", "n", "s", "status"], rows),
                 _image(plots.get("forest"), "forest plot"), "</section>"]
    for estimator, segments in results.get("cate_by_segment", {}).items():
        for segment, table in segments.items():
            sections += [f'<section class="cate"><h3>CATE by {html.escape(segment)} ({html.escape(estimator)})</h3>',
                         _table([segment, "n", "mean CATE"], [[r["segment"], r["n"], r["cate"]] for r in table]),
                         "</section>"]
    quality = results["quality"]
    sections += ['<section id="quality"><h2>Data quality</h2>',
                 f"<p>{quality['evaluated']} expectations on {quality['rows']:,} rows; "
                 + ("all passed." if quality["success"] else
                    f'<span class="fail">failed: {html.escape("; ".join(quality["failed"]))}</span>') + "</p></section>"]
    ident = results["identification"]
    sections += ['<section id="identification"><h2>Identification</h2>',
                 f"<p>Strategy: {html.escape(ident['strategy'])}; adjustment set: "
                 f"<code>{html.escape(', '.join(ident['backdoor'] or []))}</code>; instruments: "
                 f"{html.escape(', '.join(ident['instruments']) or 'none')}; latent: "
                 f"{html.escape(', '.join(ident['latent']) or 'none')}.</p>", _image(plots.get("graph"), "causal graph"),
                 "</section>"]
    overlap = results.get("overlap")
    if overlap:
        sections += ['<section id="overlap"><h2>Overlap and balance</h2>',
                     f"<p>Common support {overlap['common_support']:.3f}; max |SMD| "
                     f"{overlap['max_smd_before']:.3f} before and {overlap['max_smd_after']:.3f} after weighting.</p>",
                     _image(plots.get("propensity"), "propensity histogram"), _image(plots.get("balance"), "love plot"),
                     "</section>"]
    refutations = results.get("refutations", [])
    sections += ['<section id="refutation"><h2>Refutation</h2>',
                 _table(["refuter", "estimator", "new effect", "p", "passed", "status"],
                        [[r["refuter"], r["estimator"], r["new_effect"], r["p_value"], r["passed"], r["status"]]
                         for r in refutations]),
                 f"<p>Survived every refuter: {html.escape(', '.join(results.get('survivors', [])) or 'none')}.</p>",
                 "</section>"]
    sections += ['<section id="versions"><h2>Versions</h2>', _table(["what", "version"],
                 [[k, str(v)] for k, v in versions.items()]), "</section>"]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>whyflow {html.escape(spec['name'])}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>")
    path.write_text(page)
    return path
