"""MLflow metric keys, built in this one module (the names DESIGN.md fixes), and the metrics of a run.

Effect metrics carry the run's estimand: `ate.<E>` for an ATE run, `att.<E>` / `atc.<E>` for the
others (with `_ci_low`, `_ci_high`, `_se`), so an ATT is never read as an ATE in the MLflow UI.
"""

from __future__ import annotations

import math
import re

from whyflow import constants as C

__all__ = ["compact_metrics", "training_curves", "effect_key", "refute_key", "sensitivity_key", "metric_key", "is_timing", "metrics_of", "EFFECT_PREFIXES",
           "TIMING_PREFIXES"]

_BAD_KEY = re.compile(r"[^A-Za-z0-9_\-. :/]")
EFFECT_PREFIXES = ("ate", "att", "atc")
# metrics that measure the machine, not the analysis: never compared by `whyflow reproduce`
TIMING_PREFIXES = ("seconds.", "identification.seconds", "scale.seconds.", "scale.peak_rss_mib.")


def metric_key(*parts: str) -> str:
    """Dotted key; characters MLflow refuses become '_'."""
    return _BAD_KEY.sub("_", ".".join(parts))


def effect_key(estimator: str, estimand: str = "ate", part: str = "") -> str:
    """`ate.E`, `ate_ci_low.E`, `ate_ci_high.E`, `ate_se.E` (estimand-specific prefix)."""
    return metric_key(f"{estimand}{'_' + part if part else ''}", estimator)


def refute_key(refuter: str, estimator: str, passed: bool = False) -> str:
    return metric_key("refute_passed" if passed else "refute", refuter, estimator)


def sensitivity_key(measure: str, estimator: str) -> str:
    return metric_key("sensitivity", measure, estimator)


def is_timing(key: str) -> bool:
    return key.startswith(TIMING_PREFIXES)


def metrics_of(results: dict) -> dict[str, float | None]:
    """MLflow metrics named as in DESIGN.md, from a run's results (or the partial results of a
    failed gate)."""
    estimand = (results.get("spec") or {}).get("estimand", "ate")
    metrics: dict[str, float | None] = {}
    for e in results.get("estimates", []):
        name = e["estimator"]
        metrics.update({effect_key(name, estimand): e["ate"], effect_key(name, estimand, "ci_low"): e["ci_low"],
                        effect_key(name, estimand, "ci_high"): e["ci_high"], metric_key("p_value", name): e["p_value"],
                        effect_key(name, estimand, "se"): e["std_error"], metric_key("seconds", name): e["seconds"]})
    answer = results.get("answer")
    if answer:
        metrics.update({f"answer.{estimand}": answer["estimate"], f"answer.{estimand}_ci_low": answer["ci_low"],
                        f"answer.{estimand}_ci_high": answer["ci_high"]})
    if results.get("naive"):
        metrics["naive.difference"] = results["naive"]["ate"]
    quality = results.get("quality")
    if quality:
        metrics["quality.success"] = float(quality["success"])
        metrics["quality.failed_expectations"] = float(len(quality["failed"]))
        metrics["quality.rows"] = float(quality["rows"])
        for column, share in quality["null_fractions"].items():
            metrics[metric_key("quality.null_fraction", column)] = share
    overlap = results.get("overlap")
    if overlap:
        metrics["overlap.common_support"] = overlap["common_support"]
        metrics["balance.max_smd_before"] = overlap["max_smd_before"]
        metrics["balance.max_smd_after"] = overlap["max_smd_after"]
        for column, value in overlap["smd_after"].items():
            metrics[metric_key("balance.smd_after", column)] = value
        metrics.update(_overlap_extras(overlap))
    for r in results.get("refutations", []):
        metrics[refute_key(r["refuter"], r["estimator"])] = r["p_value"]
        metrics[refute_key(r["refuter"], r["estimator"], passed=True)] = None if r["passed"] is None else float(r["passed"])
    for name, row in ((results.get("sensitivity") or {}).get("per_estimator") or {}).items():
        metrics.update({sensitivity_key(measure, name): row.get(measure)
                        for measure in ("evalue", "evalue_ci", "rv_q1", "rv_q1_alpha05")})
    if results.get("identification"):
        metrics["identification.seconds"] = results["identification"]["seconds"]
    if results.get("agreement") and results["agreement"].get("max_z") is not None:
        metrics["agreement.max_z"] = results["agreement"]["max_z"]
        metrics["agreement.disagreeing_pairs"] = float(len(results["agreement"]["disagreeing"]))
    decision = results.get("decision")
    if decision:
        metrics.update({"decision.value": decision["value"]["estimate"], "decision.value_ci_low": decision["value"]["ci_low"],
                        "decision.value_ci_high": decision["value"]["ci_high"], "decision.roi": decision["roi"],
                        "decision.share_treated": decision["share_treated"]})
    for name, outcome in ((results.get("mediation") or {}).get("estimators") or {}).items():
        for effect in ("nde", "nie", "total"):
            if outcome.get(effect):
                metrics[metric_key("mediation", effect, name)] = outcome[effect]["estimate"]
    for nuisance, compared in ((results.get("nuisance") or {}).get("losses") or {}).items():
        for model, row in compared.items():
            if model not in ("difference", "chosen"):
                metrics[metric_key("nuisance", nuisance, "loss", model)] = row["loss"]
    tested = results.get("graph_tests")
    if tested:
        metrics.update({C.METRIC_GRAPH_IMPLIED: tested["implied"], C.METRIC_GRAPH_VIOLATED: tested["violated_share"],
                        C.METRIC_GRAPH_RANDOM_VIOLATED: tested["random_violated_share"],
                        C.METRIC_GRAPH_P_VALUE: tested["p_value"]})
    return metrics


def training_curves(results: dict) -> dict[str, list[float]]:
    """Per-epoch losses of the estimators that train (the deep networks), as MLflow step metrics:
    `training.<curve>.<E>`, and `training.<curve>.<E>.member<i>` for an ensemble's member i. An epoch
    without a value (a diverged step) is NaN, which the logger leaves out."""
    curves: dict[str, list[float]] = {}

    def walk(value, estimator: str, member: tuple[str, ...]) -> None:
        for name, inner in value.items():
            if isinstance(inner, dict):
                walk(inner, estimator, (*member, f"member{name}"))
            elif isinstance(inner, (list, tuple)) and inner:
                curves[metric_key("training", str(name), estimator, *member)] = [
                    math.nan if v is None else float(v) for v in inner]

    for e in results.get("estimates", []):
        if e.get("status") == "ok":
            walk(((e.get("details") or {}).get("training") or {}).get("curves") or {}, e["estimator"], ())
    return curves


def _overlap_extras(overlap: dict) -> dict[str, float | None]:
    """Trimming, effective sample sizes, calibration and variance ratios (tasks/evidence/overlap.py)."""
    ratios = [v for v in (overlap.get("variance_ratio_after") or {}).values() if v is not None and v > 0]
    extras = {"overlap.trimmed_units": float(overlap.get("trimmed_units", 0)),
              "overlap.ess_treated": overlap["effective_sample_size"]["treated"],
              "overlap.ess_control": overlap["effective_sample_size"]["control"],
              "balance.max_log_variance_ratio_after": max((abs(math.log(v)) for v in ratios), default=None)}
    if overlap.get("calibration"):
        extras |= {"overlap.calibration_ece": overlap["calibration"]["ece"],
                   "overlap.calibration_brier": overlap["calibration"]["brier"]}
    return extras


COMPACT_PREFIXES = ("answer.", "decision.", "naive.difference", "overlap.common_support", "balance.max_smd_after",
                    "agreement.max_z", "quality.rows", "graph.violated_share", *(f"{e}." for e in EFFECT_PREFIXES))


def compact_metrics(metrics: dict[str, float | None]) -> dict[str, float | None]:
    """What results/<analysis>/metrics.json keeps for `dvc metrics show`: the headline, the decision,
    each estimator's estimate and a few diagnostics (the full set stays in MLflow)."""
    return dict(sorted((k, v) for k, v in metrics.items() if k.startswith(COMPACT_PREFIXES)))
