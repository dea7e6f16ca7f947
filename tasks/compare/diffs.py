"""What changed between two runs, per version: data, graph, params, code and environment."""

from __future__ import annotations

import logging
import math
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tasks.graph.diff import diff_graphs
from tasks.graph.model import CausalGraph, check_dag, parse_graph_text
from tasks.record.reproduce import LoggedRun, environment_changes
from whyflow.errors import WhyflowError

__all__ = ["ColumnShift", "DataDiff", "diff_data", "diff_graph_versions", "diff_params", "CodeDiff", "diff_code",
           "diff_environment", "flatten"]

log = logging.getLogger(__name__)
_MAX_COMMITS = 50


@dataclass(frozen=True)
class ColumnShift:
    column: str
    smd: float | None  # (mean_B - mean_A) / sqrt((var_A + var_B) / 2); None for non-numeric columns
    ks: float  # Kolmogorov-Smirnov statistic (numeric) or total-variation distance of the levels (text)
    mean_a: float | None = None
    mean_b: float | None = None


@dataclass(frozen=True)
class DataDiff:
    md5_a: str
    md5_b: str
    rows_a: int
    rows_b: int
    unit_id: str | None
    units_added: int | None  # by unit id, when the spec declares one present in both snapshots
    units_removed: int | None
    columns_added: list[str]
    columns_removed: list[str]
    dtype_changes: dict[str, list[str]]
    shifts: list[ColumnShift] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return self.md5_a == self.md5_b

    def to_json(self) -> dict:
        return asdict(self) | {"same": self.same}


def _shift(column: str, a: pd.Series, b: pd.Series) -> ColumnShift:
    from scipy.stats import ks_2samp

    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(a):
        x, y = a.dropna().to_numpy(float), b.dropna().to_numpy(float)
        if not len(x) or not len(y):
            return ColumnShift(column, None, math.nan)
        pooled = math.sqrt((x.var(ddof=1 if len(x) > 1 else 0) + y.var(ddof=1 if len(y) > 1 else 0)) / 2)
        smd = (y.mean() - x.mean()) / pooled if pooled > 0 else (0.0 if y.mean() == x.mean() else math.inf)
        return ColumnShift(column, float(smd), float(ks_2samp(x, y).statistic), float(x.mean()), float(y.mean()))
    fa = a.astype(str).value_counts(normalize=True)
    fb = b.astype(str).value_counts(normalize=True)
    levels = fa.index.union(fb.index)
    tv = 0.5 * float(np.abs(fa.reindex(levels, fill_value=0) - fb.reindex(levels, fill_value=0)).sum())
    return ColumnShift(column, None, tv)


def diff_data(a: pd.DataFrame, b: pd.DataFrame, md5_a: str, md5_b: str, unit_id: str | None = None) -> DataDiff:
    """Rows, columns, and each shared column's shift from snapshot A to snapshot B."""
    shared = [c for c in a.columns if c in b.columns]
    added = removed = None
    if unit_id and unit_id in a.columns and unit_id in b.columns:
        ids_a, ids_b = set(a[unit_id].dropna()), set(b[unit_id].dropna())
        added, removed = len(ids_b - ids_a), len(ids_a - ids_b)
    dtypes = {c: [str(a[c].dtype), str(b[c].dtype)] for c in shared if str(a[c].dtype) != str(b[c].dtype)}
    shifts = [] if md5_a == md5_b else [_shift(c, a[c], b[c]) for c in shared if c != unit_id]
    return DataDiff(md5_a=md5_a, md5_b=md5_b, rows_a=len(a), rows_b=len(b), unit_id=unit_id, units_added=added,
                    units_removed=removed, columns_added=[c for c in b.columns if c not in a.columns],
                    columns_removed=[c for c in a.columns if c not in b.columns], dtype_changes=dtypes, shifts=shifts)


def _design(graph: CausalGraph, spec: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """How the logged spec's effect is identified in this graph (strategy and adjustment sets)."""
    from tasks.identify.effect import identify_effect
    from whyflow.spec import AnalysisSpec

    try:
        parsed = AnalysisSpec(**{**spec, "base_dir": base_dir})
        found = identify_effect(graph, parsed)
    except (WhyflowError, ValueError) as exc:
        return {"strategy": None, "error": str(exc).splitlines()[0][:300]}
    return {"strategy": found.strategy, "backdoor": found.backdoor, "backdoor_minimal": found.backdoor_minimal,
            "instruments": found.instruments, "frontdoor": found.frontdoor}


def diff_graph_versions(text_a: str, text_b: str, spec_a: dict, spec_b: dict, base_dir: Path) -> dict[str, Any]:
    """Edges and latent nodes added or removed, and the design each run's spec gets from each graph."""
    graph_a = check_dag(CausalGraph(parse_graph_text(text_a, "A"), "A"))
    graph_b = check_dag(CausalGraph(parse_graph_text(text_b, "B"), "B"))
    changed = diff_graphs(graph_a, graph_b).to_json()
    design_a, design_b = _design(graph_a, spec_a, base_dir), _design(graph_b, spec_b, base_dir)
    return changed | {"design_a": design_a, "design_b": design_b,
                      "design_changed": {k: v for k, v in design_a.items() if design_b.get(k) != v} != {}}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys (lists kept whole)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            out |= flatten(child, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix: value}


def diff_params(spec_a: dict, spec_b: dict, ignore: tuple[str, ...] = ("name",)) -> list[dict[str, Any]]:
    """Spec keys whose values differ, dotted, with A's and B's values ('absent' when missing)."""
    a, b = flatten(spec_a), flatten(spec_b)
    return [{"key": k, "a": a.get(k, "absent"), "b": b.get(k, "absent")}
            for k in sorted(set(a) | set(b))
            if k.split(".", 1)[0] not in ignore and a.get(k, "absent") != b.get(k, "absent")]


@dataclass(frozen=True)
class CodeDiff:
    commit_a: str
    commit_b: str
    dirty_a: bool
    dirty_b: bool
    commits: list[str]  # "sha subject", from A to B (B's side of A...B), newest first
    commits_back: list[str]  # commits in A not in B (when B does not descend from A)
    files: list[str]  # "M path" (git diff --name-status A B)
    stat: str  # the summary line of git diff --stat
    error: str | None = None

    @property
    def same(self) -> bool:
        return self.commit_a == self.commit_b and not self.dirty_a and not self.dirty_b

    def to_json(self) -> dict:
        return asdict(self) | {"same": self.same}


def _git(base_dir: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=base_dir, capture_output=True, text=True)
    if done.returncode != 0:
        raise WhyflowError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"git {args[0]} failed")
    return done.stdout


def diff_code(base_dir: Path, a: LoggedRun, b: LoggedRun) -> CodeDiff:
    """Commits between the two runs' commits, the files they touch and the diff stat."""
    ca, cb = a.versions["git_commit"], b.versions["git_commit"]
    dirty = (a.versions.get("git_dirty") == "true", b.versions.get("git_dirty") == "true")
    try:
        forward = _git(base_dir, "log", "--format=%h %s", f"-{_MAX_COMMITS}", f"{ca}..{cb}").splitlines()
        back = _git(base_dir, "log", "--format=%h %s", f"-{_MAX_COMMITS}", f"{cb}..{ca}").splitlines()
        files = [" ".join(line.split("\t")) for line in _git(base_dir, "diff", "--name-status", ca, cb).splitlines()]
        stat = (_git(base_dir, "diff", "--stat", ca, cb).strip().splitlines() or [""])[-1].strip()
    except WhyflowError as exc:
        return CodeDiff(ca, cb, *dirty, [], [], [], "", error=str(exc))
    return CodeDiff(ca, cb, *dirty, forward, back, files, stat)


def diff_environment(a: LoggedRun, b: LoggedRun) -> list[str]:
    """Packages whose logged version differs ('name: A -> B')."""
    return environment_changes(a.environment, b.environment)
