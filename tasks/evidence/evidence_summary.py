"""What the refutations say about each estimate, by category, in lines the CLI and report print.

Sanity checks catch a broken estimator, bias checks a biased one, the sensitivity check says how
strong a hidden confounder would have to be. An estimator "survives" only with no failed check and
at least one passed bias check; without a bias check the summary says the estimate was not tested
for bias, never that it survived.
"""

from __future__ import annotations

from typing import Any, Iterable

__all__ = ["summarize_evidence", "evidence_lines", "survivors", "NO_BIAS_CHECK"]

NO_BIAS_CHECK = "no bias check ran: the estimate was not tested for bias"
_COUNTED = ("pass", "fail", "inconclusive", "not_applicable", "failed")


def _as_dict(refutation: Any) -> dict:
    return refutation if isinstance(refutation, dict) else refutation.to_json()


def _verdict(r: dict) -> str:
    """Records written before verdicts existed carry only status and passed."""
    if r.get("verdict"):
        return r["verdict"]
    if r.get("status") in ("failed", "not_applicable"):
        return r["status"]
    return {True: "pass", False: "fail"}.get(r.get("passed"), "inconclusive")


def _counts(rows: list[dict]) -> dict:
    counts = {v: [r["refuter"] for r in rows if _verdict(r) == v] for v in _COUNTED}
    return {"passed": counts["pass"], "failed": counts["fail"], "inconclusive": counts["inconclusive"],
            "not_applicable": counts["not_applicable"], "errors": counts["failed"]}


def _phrase(label: str, counts: dict) -> str:
    ran = len(counts["passed"]) + len(counts["failed"]) + len(counts["inconclusive"])
    parts = [f"{len(counts['passed'])}/{ran} passed"]
    if counts["failed"]:
        parts.append(f"FAILED {', '.join(counts['failed'])}")
    if counts["inconclusive"]:
        parts.append(f"inconclusive {', '.join(counts['inconclusive'])}")
    if counts["errors"]:
        parts.append(f"could not run {', '.join(counts['errors'])}")
    return f"{label} " + ", ".join(parts)


def _sensitivity_phrase(rows: list[dict]) -> str | None:
    for r in rows:
        details = r.get("details") or {}
        if _verdict(r) in ("pass", "fail", "inconclusive") and "benchmark" in details:
            flip = details.get("smallest_multiple_flipping_sign")
            gone = details.get("smallest_multiple_removing_significance")

            def said(what: str, x) -> str:
                return f"{what} at {x:g}x" if isinstance(x, (int, float)) else f"no {what} up to 3x"

            return (f"hidden confounder {_verdict(r)} (a confounder k times as strong as '{details['benchmark']}': "
                    f"{said('sign flip', flip)}, {said('loss of significance', gone)})")
    return None


def summarize_evidence(refutations: Iterable[Any]) -> dict[str, dict]:
    """Per estimator: sanity, bias and sensitivity counts (refuter names per verdict), whether it
    survives, and one `line` to print. Takes Refutation objects or their to_json() dicts."""
    rows = [_as_dict(r) for r in refutations]
    summary: dict[str, dict] = {}
    for estimator in dict.fromkeys(r["estimator"] for r in rows):
        mine = [r for r in rows if r["estimator"] == estimator]
        by = {c: _counts([r for r in mine if r.get("category", "sanity") == c]) for c in ("sanity", "bias",
                                                                                        "sensitivity")}
        failed_any = any(by[c]["failed"] for c in by)
        survives = not failed_any and bool(by["bias"]["passed"])
        parts = [_phrase("sanity", by["sanity"])] if any(by["sanity"][k] for k in ("passed", "failed",
                                                                                  "inconclusive", "errors")) else []
        bias_ran = any(by["bias"][k] for k in ("passed", "failed", "inconclusive"))
        if not bias_ran:
            parts.append(NO_BIAS_CHECK)
        else:
            parts.append(_phrase("bias", by["bias"]))
            if not by["bias"]["passed"] and not by["bias"]["failed"]:
                parts.append("no bias check was conclusive: the estimate was not shown to be unbiased")
        if sens := _sensitivity_phrase([r for r in mine if r.get("category") == "sensitivity"]):
            parts.append(sens)
        summary[estimator] = {**by, "survives": survives, "bias_tested": bias_ran,
                              "line": f"{estimator}: " + "; ".join(parts)}
    return summary


def evidence_lines(refutations: Iterable[Any]) -> list[str]:
    """One line per estimator, for the CLI and the report."""
    return [entry["line"] for entry in summarize_evidence(refutations).values()]


def survivors(estimates: Iterable[Any], refutations: Iterable[Any]) -> list[str]:
    """Estimators with no failed check and at least one passed bias check (the results file's list)."""
    summary = summarize_evidence(refutations)
    names = [e.estimator for e in estimates if getattr(e, "ok", True)]
    return [name for name in names if summary.get(name, {}).get("survives")]
