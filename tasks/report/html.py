"""The run report: one self-contained HTML page (images inlined as data URIs, no network), the business
answer first, the evidence below: graph, data, identification, overlap, estimates, CATE, refutation,
sensitivity and versions."""

from __future__ import annotations

import base64
import html
import logging
import math
import re
from pathlib import Path
from typing import Any

from whyflow.format import number
from tasks.report import plots

__all__ = ["render_report", "headline", "verdict", "extra_plots", "SECTIONS"]

log = logging.getLogger(__name__)
_NUMERIC = re.compile(r"^[-+\d.,%e–]+$")
# id -> title, in page order; the browser test checks every one.
SECTIONS = {"answer": "The answer", "decision": "What to do", "graph": "Causal graph", "data": "Data and quality",
            "identification": "Identification", "overlap": "Overlap and balance", "estimates": "Estimates",
            "cate": "Effect by segment", "mediation": "Direct and indirect effects", "refutation": "Refutation", "sensitivity": "Sensitivity to hidden confounding",
            "versions": "Versions"}


def _num(value: Any, digits: int = 4) -> str:
    return html.escape(number(value, digits))


def _pct(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def _is_text(cell: Any) -> bool:
    return isinstance(cell, str) and not _NUMERIC.match(cell)


def _cell_class(cell: str) -> str:
    return "t fail" if cell == "FAIL" or cell.startswith("error") else "t pass" if cell == "pass" else "t"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class='{_cell_class(c)}'>{_num(c)}</td>" if _is_text(c) else f"<td>{_num(c)}</td>"
                                    for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path | None, alt: str) -> str:
    if path is None or not Path(path).exists():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _ok(results: dict) -> list[dict]:
    return [e for e in results["estimates"] if e["status"] == "ok" and e["ate"] is not None]


def headline(results: dict) -> str:
    """One sentence for a business reader, about the headline estimate (tasks/estimate/answer.py)."""
    answer = results.get("answer")
    spec = results["spec"]
    if not answer:
        return "No estimator produced an estimate; see the errors below."
    value = answer["estimate"]
    direction = "raised" if value > 0 else "lowered"
    interval = (f", 95% CI {number(answer['ci_low'])} to {number(answer['ci_high'])}"
                if answer.get("ci_low") is not None else "")
    naive = results.get("naive") or {}
    naive_text = (f" A naive comparison of the two groups would have said {naive['ate']:.4g}."
                  if naive.get("ate") is not None else "")
    return (f"{spec['treatment']} {direction} {spec['outcome']} by {abs(value):.4g} per unit on average "
            f"({answer['estimand'].upper()}{interval}; {answer['estimator']}: {answer['why']}).{naive_text}")


def verdict(results: dict) -> list[str]:
    """Short lines on how far to trust the answer, from the diagnostics."""
    lines = []
    overlap = results.get("overlap")
    if overlap:
        lines.append(f"Treated and untreated users are comparable: {_pct(overlap['common_support'])} lie in the "
                     f"common support; the largest imbalance after weighting is {overlap['max_smd_after']:.3f} SD "
                     f"(was {overlap['max_smd_before']:.3f}).")
    refutations = results.get("refutations") or []
    answer = results.get("answer") or {}
    if refutations:
        from tasks.evidence.evidence_summary import summarize_evidence

        evidence = summarize_evidence(refutations)
        headline = evidence.get(answer.get("estimator")) or next(iter(evidence.values()))
        lines.append(f"Checks of the headline estimate: {headline['line']}")
    truth = (results.get("truth") or {}).get(results["spec"]["estimand"])
    if truth is not None:
        lines.append(f"Known truth (the data are simulated): {truth:.4g}.")
    sens = results.get("sensitivity") or {}
    ols = sens.get("ols")
    if ols:
        lines.append(f"A hidden confounder would have to explain {_pct(ols['rv_q1'])} of the remaining variation of "
                     f"both the treatment and the outcome to erase the effect ({_pct(ols['rv_q1_alpha05'])} to make "
                     f"it statistically insignificant).")
    return lines


def extra_plots(results: dict, figures: Path, graph=None) -> dict[str, Path]:
    """The report's plots beyond the forest, propensity and balance plots: graph picture, propensity
    calibration and the sensitivity contour. A drawing that fails is logged and left out."""
    made: dict[str, Path] = {}
    spec = results["spec"]
    jobs = []
    if graph is not None:
        from tasks.graph.render import render_graph

        jobs.append(("graph", lambda: render_graph(graph, figures / "graph.png", spec["treatment"], spec["outcome"])[0]))
    overlap = results.get("overlap") or {}
    if overlap.get("calibration"):
        jobs.append(("calibration", lambda: plots.calibration_plot(overlap["calibration"], figures / "calibration.png",
                                                                   overlap.get("propensity_model", "logistic"))))
    ols = (results.get("sensitivity") or {}).get("ols")
    if ols:
        jobs.append(("contour", lambda: plots.contour_plot(ols, figures / "sensitivity_contour.png", spec["treatment"])))
    for name, draw in jobs:
        try:
            made[name] = draw()
        except Exception as exc:  # a missing picture must not lose the run's report
            log.warning("plot %s not drawn: %s", name, exc)
    return made


_STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1000px;margin:1.5em auto;
padding:0 1em;color:#222;line-height:1.45}h1{margin-bottom:.1em}h2{border-bottom:2px solid #e5e5e5;padding-bottom:.2em;
margin-top:1.8em}nav{font-size:.9em;margin:.6em 0 1.2em}nav a{margin-right:.9em;color:#1f5f99}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}td,th{border:1px solid #d5d5d5;padding:.25em .6em;
text-align:right}td.t{text-align:left}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.answer{font-size:1.3em;background:#eef6ee;padding:.8em 1em;border-left:6px solid #33a02c;margin:.4em 0}
.trust li{margin:.2em 0}.muted{color:#666;font-size:.9em}img{max-width:100%}figure{margin:.6em 0}
.grid{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.grid figure{flex:1 1 420px}
code{font-size:.9em;background:#f5f5f5;padding:0 .2em}.fail{color:#b00;font-weight:600}.pass{color:#2a7d2a}"""


def _section(key: str, *parts: str) -> list[str]:
    return [f'<section id="{key}"><h2>{SECTIONS[key]}</h2>', *parts, "</section>"]


def _decision(results: dict, plots_: dict) -> list[str]:
    """The recommended rule, its value against treating everyone and no one, and who responds."""
    decision = results.get("decision")
    if not decision:
        return _section("decision", "<p class='muted'>No decision asked: add <code>decision: {cost: ...}</code> to the "
                                    "analysis to get a targeting rule with its value and ROI.</p>")
    value, baselines = decision["value"], decision["baselines"]
    rows = [["recommended rule", value["estimate"], value["ci_low"], value["ci_high"]],
            *[[name.replace("_", " "), b["estimate"], b["ci_low"], b["ci_high"]] for name, b in baselines.items()]]
    selection = (decision.get("model_selection") or {}).get("reason") or ""
    pictures = [_image(plots_.get(key), key.replace("_", " ")) for key in sorted(plots_)
                if key.startswith("decision_")]
    return _section("decision", f'<p class="answer">{html.escape(decision["recommendation"])}</p>',
                    f"<p>Net gain per unit over treating no one (cost {number(decision['cost'])} per unit treated); "
                    f"share treated {_pct(decision['share_treated'])}; ROI {number(decision['roi'])}.</p>",
                    _table(["policy", "net gain per unit", "95% low", "95% high"], rows),
                    f"<p class='muted'>{html.escape(selection)}</p>" if selection else "", *pictures)


def _mediation(results: dict, plots_: dict) -> list[str]:
    """NDE, NIE and the total per estimator, the identification verdict, the decomposition drawn."""
    mediation = results.get("mediation")
    if not mediation:
        return _section("mediation", "<p class='muted'>No mediators declared (spec key <code>mediators</code>).</p>")
    rows = [[name, part.upper(), e[part]["estimate"], e[part]["ci_low"], e[part]["ci_high"]]
            for name, e in mediation["estimators"].items() if e.get("status") == "ok"
            for part in ("nde", "nie", "total") if e.get(part)]
    skipped = [f"{name}: {e.get('error') or e.get('status')}" for name, e in mediation["estimators"].items()
               if e.get("status") != "ok"]
    ident = mediation["identification"]
    return _section("mediation", f"<p>Through <code>{html.escape(', '.join(mediation['mediators']))}</code>: "
                                 f"{html.escape(ident['reason'])}</p>",
                    _table(["estimator", "effect", "estimate", "95% low", "95% high"], rows),
                    "".join(f"<p class='muted'>{html.escape(s)}</p>" for s in skipped),
                    _image(plots_.get("mediation"), "mediation decomposition"))


def _estimates(results: dict, plots_: dict) -> list[str]:
    spec = results["spec"]
    rows = [[e["estimator"], e["estimand"], e["ate"], e["ci_low"], e["ci_high"], e["p_value"], e["n"], e["seconds"],
             e["status"] + (f": {e['error']}" if e["error"] else "")] for e in results["estimates"]]
    naive = results["naive"]
    rows.append(["naive", "difference in means", naive["ate"], naive["ci_low"], naive["ci_high"], naive["p_value"],
                 naive["n"], None, "unadjusted"])
    if results.get("truth") and results["truth"].get(spec["estimand"]) is not None:
        rows.append(["known truth", spec["estimand"], results["truth"][spec["estimand"]], None, None, None, None, None,
                     "from the generator"])
    return _section("estimates", _table(["estimator", "estimand", "estimate", "95% low", "95% high", "p", "n", "s",
                                         "status"], rows), _image(plots_.get("forest"), "forest plot"),
                    _image(plots_.get("dose_response"), "dose-response curve"),
                    _nuisance(results.get("nuisance")), _agreement(results.get("agreement")))


def _nuisance(nuisance: dict | None) -> str:
    """Which nuisance models the estimators used, and the cross-validated losses that chose them."""
    if not nuisance:
        return ""
    text = (f"<p>Nuisance models: {html.escape(nuisance['outcome'])} outcome, "
            f"{html.escape(nuisance['propensity'])} propensity ")
    if nuisance["source"] != "auto":
        return text + "(set in the spec).</p>"
    rows = [[name, model, row["loss"], row["se"]] for name, compared in nuisance["losses"].items()
            for model, row in compared.items() if model not in ("difference", "chosen")]
    return (text + f"(chosen on {nuisance['rows']:,} rows by the rule: {html.escape(nuisance['rule'])}).</p>"
            + _table(["nuisance", "model", "cross-validated loss", "SE"], rows))


def _agreement(agreement: dict | None) -> str:
    """One paragraph: the largest pairwise |difference| / pooled SE, and any pair beyond the threshold."""
    if not agreement or agreement.get("max_z") is None:
        return ""
    flagged = agreement["disagreeing"]
    text = (f"Agreement: the largest pairwise difference is {agreement['max_z']:.2f} pooled standard errors; "
            + (f'<span class="fail">beyond {agreement["threshold"]:g}: '
               f'{html.escape(", ".join(f"{a} vs {b}" for a, b in flagged))}</span>' if flagged
               else f"no pair differs by more than {agreement['threshold']:g}."))
    return f'<p id="agreement">{text}</p>'


def _cate(results: dict) -> list[str]:
    parts = []
    for estimator, segments in (results.get("cate_by_segment") or {}).items():
        for segment, table in segments.items():
            parts += [f"<h3>by {html.escape(segment)} ({html.escape(estimator)})</h3>",
                      _table([segment, "n", "mean CATE", "95% low", "95% high"],
                             [[r["segment"], r["n"], r["cate"], r.get("ci_low"), r.get("ci_high")] for r in table])]
    for e in results["estimates"]:
        importance = (e.get("details") or {}).get("cate_importance")
        if importance and importance.get("values"):
            parts += [f"<h3>what drives the effect ({html.escape(e['estimator'])}: {html.escape(importance['kind'])})"
                      "</h3>", _table(["feature", "value"], sorted(([k, v] for k, v in importance["values"].items()),
                                                                   key=lambda kv: -abs(kv[1])))]
    return _section("cate", *(parts or ["<p class='muted'>No estimator gave per-unit effects, or no segments "
                                        "were declared (spec key <code>segments</code>).</p>"]))


def _overlap(results: dict, plots_: dict) -> list[str]:
    o = results.get("overlap")
    if not o:
        return _section("overlap", "<p class='muted'>Not computed (continuous treatment).</p>")
    trim = ("no trimming" if o.get("trim", "none") == "none" else
            f"trimming '{o['trim']}' kept propensities in [{o['trim_bounds'][0]:.3f}, {o['trim_bounds'][1]:.3f}], "
            f"dropping {o['trimmed_units']:,} units before estimation")
    ess = o["effective_sample_size"]
    rows = [[name, o["smd_before"][name], o["smd_after"][name], (o.get("variance_ratio_before") or {}).get(name),
             (o.get("variance_ratio_after") or {}).get(name)] for name in o["smd_before"]]
    return _section("overlap", f"<p>Propensity model: {html.escape(o.get('propensity_model', 'logistic'))}; common "
                    f"support {_pct(o['common_support'])}; propensity range treated [{o['propensity_treated'][0]:.3f}, "
                    f"{o['propensity_treated'][1]:.3f}], control [{o['propensity_control'][0]:.3f}, "
                    f"{o['propensity_control'][1]:.3f}]; {trim}. Effective sample size after weighting: treated "
                    f"{ess['treated']:,.0f}, control {ess['control']:,.0f}.</p>",
                    '<div class="grid">', _image(plots_.get("propensity"), "propensity histogram"),
                    _image(plots_.get("calibration"), "propensity calibration"), "</div>",
                    _image(plots_.get("balance"), "love plot"),
                    _table(["covariate", "SMD before", "SMD after", "variance ratio before", "variance ratio after"], rows))


_VERDICT_TEXT = {"pass": "pass", "fail": "FAIL", "inconclusive": "inconclusive", "not_applicable": "n/a",
                 "failed": "error"}
_CATEGORY_TEXT = {"sanity": "Sanity checks (does the estimator behave?)", "bias": "Bias checks (is the estimate biased?)",
                  "sensitivity": "Sensitivity (how strong would a hidden confounder have to be?)"}


def _verdict_cell(r: dict | None) -> str:
    return "–" if r is None else _VERDICT_TEXT.get(r.get("verdict", ""), r.get("verdict", "?"))


def _refutation(results: dict) -> list[str]:
    """Sanity checks, bias checks and sensitivity apart, each with what it can detect; one evidence
    line per estimator (tasks/evidence/evidence_summary.py), never a bare 'survived'."""
    from tasks.evidence.evidence_summary import evidence_lines

    refutations = results.get("refutations") or []
    if not refutations:
        return _section("refutation", "<p class='muted'>Not run.</p>")
    estimators = list(dict.fromkeys(r["estimator"] for r in refutations))
    outcome = {(r["refuter"], r["estimator"]): r for r in refutations}
    parts = ["<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in evidence_lines(refutations)) + "</ul>"]
    for category, title in _CATEGORY_TEXT.items():
        mine = [r for r in refutations if r.get("category", "sanity") == category]
        if not mine:
            continue
        names = list(dict.fromkeys(r["refuter"] for r in mine))
        parts.append(f"<h3>{html.escape(title)}</h3>")
        parts.append(_table(["check", *estimators], [[n, *(_verdict_cell(outcome.get((n, e))) for e in estimators)]
                                                   for n in names]))
        described = {r["refuter"]: (r.get("detects", ""), r.get("criterion", "")) for r in mine}
        parts.append("<ul class='muted'>" + "".join(
            f"<li><b>{html.escape(n)}</b>: {html.escape(d)} {html.escape(c)}</li>" for n, (d, c) in described.items())
            + "</ul>")
    rows = [[r["refuter"], r["estimator"], r["original"], r["new_effect"], r.get("interval_low"), r.get("interval_high"),
             r["p_value"], _verdict_cell(r) + (f": {r['error']}" if r.get("error") else "")] for r in refutations]
    parts.append(_table(["check", "estimator", "estimate", "refuted mean", "interval low", "interval high", "p",
                         "result"], rows))
    return _section("refutation", *parts)


def _sensitivity(results: dict, plots_: dict) -> list[str]:
    sens = results.get("sensitivity")
    if not sens:
        return _section("sensitivity", "<p class='muted'>Not computed.</p>")
    per = sens.get("per_estimator") or {}
    rows = [[name, r.get("risk_ratio"), r.get("evalue"), r.get("evalue_ci"), _pct(r.get("r2yd_x")), _pct(r.get("rv_q1")),
             _pct(r.get("rv_q1_alpha05"))] for name, r in per.items()]
    approx = next(iter(per.values()), {}).get("approximation", "")
    parts = ["<p>E-value: how strongly (as a risk ratio, with both treatment and outcome) a hidden confounder "
             "would have to be associated to explain the estimate (or its CI bound nearest the null) away. "
             f"Scale: {html.escape(approx)} (VanderWeele &amp; Ding 2017). Robustness values RV (Cinelli &amp; "
             "Hazlett 2020) are shares of residual variance.</p>",
             _table(["estimator", "risk ratio", "E-value", "E-value CI", "partial R² Y~T|X", "RV q=1", "RV q=1, α=.05"],
                    rows)]
    ols = sens.get("ols")
    if ols:
        parts.append(f"<p>OLS of the outcome on the treatment and the adjustment set: estimate {ols['estimate']:.4g} "
                     f"(SE {ols['se']:.3g}, t {ols['t']:.3g}, {ols['dof']:,} dof); partial R² of the treatment with "
                     f"the outcome {_pct(ols['r2yd_x'])}; RV<sub>q=1</sub> {_pct(ols['rv_q1'])}; "
                     f"RV<sub>q=1,α=0.05</sub> {_pct(ols['rv_q1_alpha05'])}.</p>")
        if ols.get("bounds"):
            parts.append(_table(["confounder as strong as", "partial R² with T", "partial R² with Y", "adjusted estimate",
                                 "adjusted SE", "adjusted t", "95% low", "95% high"],
                                [[b["label"], _pct(b["r2dz_x"]), _pct(b["r2yz_dx"]), b["adjusted_estimate"],
                                  b["adjusted_se"], b["adjusted_t"], b["adjusted_ci_low"], b["adjusted_ci_high"]]
                                 if b["adjusted_estimate"] is not None else
                                 [b["label"], _pct(b["r2dz_x"]), _pct(b["r2yz_dx"]), "impossible: a partial R² "
                                  "would exceed 100%", None, None, None, None] for b in ols["bounds"]]))
        parts.append(_image(plots_.get("contour"), "sensitivity contour plot"))
    parts += [f"<p class='muted'>{html.escape(n)}</p>" for n in sens.get("notes", [])]
    return _section("sensitivity", *parts)


def _data(results: dict) -> list[str]:
    q = results["quality"]
    o = results.get("overlap") or {}
    arms = ""
    if o.get("histogram"):
        treated, control = sum(o["histogram"]["treated"]), sum(o["histogram"]["control"])
        arms = f" {treated:,} treated and {control:,} untreated units."
    status = ("All passed." if q["success"] else
              f'<span class="fail">Failed: {html.escape("; ".join(q["failed"]))}</span>')
    nulls = [[c, f] for c, f in q.get("null_fractions", {}).items() if f]
    preparation = q.get("preparation") or {}
    done = "".join(f"<li>{html.escape(a)}</li>" for a in preparation.get("actions", []))
    prepared = (f"<p>What whyflow did to the data ({preparation['rows_out']:,} of {preparation['rows_in']:,} rows "
                f"analysed):</p><ul>{done}</ul>" if done else "<p>The data were analysed as delivered.</p>"
                if preparation else "")
    return _section("data", f"<p>{q['rows']:,} rows from <code>{html.escape(str(results['versions'].get('data_path')))}"
                    f"</code> (md5 <code>{html.escape(str(results['versions'].get('data_md5')))}</code>).{arms}</p>",
                    f"<p>{q['evaluated']} quality expectations: {status}</p>", prepared,
                    _table(["column", "null fraction"], nulls) if nulls else "")


def render_report(results: dict, plots_: dict[str, Path], path: Path) -> Path:
    """Write report.html from the run's results dict and plot files."""
    spec, versions = results["spec"], results["versions"]
    ident = results["identification"]
    tested = results.get("graph_tests") or {}
    nav = "".join(f'<a href="#{k}">{v}</a>' for k, v in SECTIONS.items())
    trust = "".join(f"<li>{html.escape(line)}</li>" for line in verdict(results))
    warned = "".join(f"<li>{html.escape(w)}</li>" for w in results.get("warnings") or [])
    sections = [f"<h1>{html.escape(spec['name'])}: did {html.escape(spec['treatment'])} change "
                f"{html.escape(spec['outcome'])}?</h1>", f"<nav>{nav}</nav>",
                *_section("answer", f'<p class="answer">{html.escape(headline(results))}</p>',
                          f'<ul class="trust">{trust}</ul>',
                          (f'<p>Warnings (gates left at their defaults; the run went on):</p><ul class="warnings">'
                           f"{warned}</ul>" if warned else ""),
                          f"<p class='muted'>Question: what is the average effect ({spec['estimand'].upper()}) of "
                          f"<code>{html.escape(spec['treatment'])}</code> on <code>{html.escape(spec['outcome'])}"
                          "</code>, adjusting for the confounders the causal graph names?</p>"),
                *_decision(results, plots_),
                *_section("graph", f"<p>Graph <code>{html.escape(str(spec.get('graph') or 'from confounders'))}</code>, "
                          f"sha256 <code>{html.escape(str(versions.get('graph_sha256')))}</code>."
                          + (f" {tested.get('implied', 0)} implied independences tested, "
                             f"{_pct(tested.get('violated_share'))} rejected by the data." if tested else "")
                          + (f" {html.escape(tested['note'])}." if tested.get("note") else "") + "</p>",
                          _image(plots_.get("graph"), "causal graph")),
                *_data(results),
                *_section("identification", f"<p>Strategy: {html.escape(ident['strategy'])}; adjustment set: "
                          f"<code>{html.escape(', '.join(ident['backdoor'] or []))}</code>; instruments: "
                          f"{html.escape(', '.join(ident['instruments']) or 'none')}; latent: "
                          f"{html.escape(', '.join(ident['latent']) or 'none')}.</p>"),
                *_overlap(results, plots_), *_estimates(results, plots_), *_cate(results),
                *_mediation(results, plots_), *_refutation(results),
                *_sensitivity(results, plots_),
                *_section("versions", "<table><tbody>" + "".join(
                    f"<tr><th>{html.escape(k)}</th><td class='t'><code>{html.escape(str(v))}</code></td></tr>"
                    for k, v in versions.items()) + "</tbody></table>")]
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>whyflow {html.escape(spec['name'])}"
            f"</title><style>{_STYLE}</style></head><body>{''.join(sections)}</body></html>")
    path.write_text(page)
    return path
