"""Per estimator: the replayed estimate of every combination, and its attribution (tasks/compare/shapley.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tasks.compare.replay import ReplayJob, ReplayResult
from tasks.compare.runs import RunPair
from tasks.compare.shapley import FACTORS, attribute, subset_label
from tasks.record.metrics import EFFECT_PREFIXES
from whyflow.errors import SpecError
from whyflow.suggest import closest_names

__all__ = ["EstimatorComparison", "by_estimator", "choose_estimators", "attribute_estimates"]


@dataclass(frozen=True)
class EstimatorComparison:
    estimator: str
    logged: dict[str, float]  # the two runs' logged estimates, "a" and "b"
    replayed: dict[str, float | None]  # every combination's replay, by label (A, data, data+graph, ..., B)
    reproduced: dict[str, bool | None]  # did the corner replays give the logged estimates, bit for bit
    attribution: dict[str, Any] | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        att = self.attribution or {}
        interactions = None
        if att.get("method") == "shapley":
            interactions = {"first_order": att["first_order"], "residual": att["residual_interaction"],
                            "pairwise": att["pairwise"]}
        return {"a": att.get("a", self.logged["a"]), "b": att.get("b", self.logged["b"]),
                "change": att.get("change"), "attribution": att.get("shares"), "method": att.get("method"),
                "interactions": interactions, "order": att.get("order"), "missing": att.get("missing", []),
                "note": att.get("note", ""), "logged": self.logged, "reproduced": self.reproduced,
                "replayed": self.replayed, "error": self.error}


def by_estimator(metrics: dict[str, float]) -> dict[str, float]:
    """{estimator: estimate} from effect metrics (ate.E, att.E or atc.E: whichever the estimand was)."""
    out = {}
    for key, value in metrics.items():
        prefix, _, name = key.partition(".")
        if prefix in EFFECT_PREFIXES and name:
            out[name] = value
    return out


def choose_estimators(pair: RunPair, wanted: list[str] | None) -> list[str]:
    """Estimators logged in both runs (or the ones asked for, which must be); exit 2 otherwise."""
    shared = sorted(set(by_estimator(pair.a.metrics)) & set(by_estimator(pair.b.metrics)))
    if not wanted:
        if not shared:
            raise SpecError(f"runs {pair.a.run_id} and {pair.b.run_id} have no estimator in common to compare")
        return shared
    unknown = [name for name in wanted if name not in shared]
    if unknown:
        hint = closest_names(unknown[0], shared)
        raise SpecError(f"--estimator {unknown[0]!r} must be an estimator logged in both runs "
                        f"({', '.join(shared) or 'none'}){f'; did you mean {hint[0]!r}?' if hint else ''}")
    return list(dict.fromkeys(wanted))


def _equal(x: float | None, y: float | None) -> bool | None:
    if x is None or y is None:
        return None
    return x == y or (math.isnan(x) and math.isnan(y))


def attribute_estimates(pair: RunPair, by_subset: dict[frozenset, ReplayJob], results: dict[str, ReplayResult],
                        estimators: list[str]) -> dict[str, EstimatorComparison]:
    """Shapley shares per estimator, or the sequential fallback when combinations failed. A corner whose
    replay failed stands in with the logged run's estimate (said in the note)."""
    logged_a, logged_b = by_estimator(pair.a.metrics), by_estimator(pair.b.metrics)
    none, everything = frozenset(), frozenset(FACTORS)
    out = {}
    for name in estimators:
        values: dict[frozenset, float | None] = {}
        for subset, job in by_subset.items():
            result = results.get(job.key)
            ok = result is not None and result.status in ("ok", "cached")
            values[subset] = by_estimator(result.estimates).get(name) if ok else None
        logged = {"a": logged_a[name], "b": logged_b[name]}
        ordered = sorted(values.items(), key=lambda kv: (len(kv[0]), subset_label(kv[0])))
        replayed = {subset_label(s): v for s, v in ordered}
        reproduced = {"a": _equal(values[none], logged["a"]), "b": _equal(values[everything], logged["b"])}
        stand_in = []
        if values[none] is None:
            values[none], _ = logged["a"], stand_in.append("A")
        if values[everything] is None:
            values[everything], _ = logged["b"], stand_in.append("B")
        try:
            attribution = attribute(values).to_json()
        except ValueError as exc:
            out[name] = EstimatorComparison(name, logged, replayed, reproduced, None, error=str(exc))
            continue
        if stand_in:
            attribution["note"] = (attribution["note"] + "; " if attribution["note"] else "") + (
                f"the replay of corner {' and '.join(stand_in)} failed: the logged estimate stands in")
        out[name] = EstimatorComparison(name, logged, replayed, reproduced, attribution)
    return out


def comparison_result(pair: RunPair, changes, comparisons: dict[str, EstimatorComparison],
                      results: dict[str, ReplayResult], seconds: float | None = None) -> dict[str, Any]:
    """The comparison as JSON: runs, versions, what changed, per-estimator attribution, the replays."""
    return {"runs": [pair.a.run_id, pair.b.run_id], "analysis": pair.analysis, "versions": pair.versions(),
            "changes": changes.to_json(), "estimates": {n: c.to_json() for n, c in comparisons.items()},
            "replays": [r.to_json() for r in results.values()], "replay_seconds": seconds}


__all__ += ["comparison_result"]
