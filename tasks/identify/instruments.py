"""Instrument discovery: the graph's instruments ranked by first-stage strength measured on the data.

The graph says which variables may serve as instruments (tasks/strategies.py); only the data can say
whether they are strong enough. Strength is the first-stage partial F statistic of the instrument
in an OLS regression of the treatment on the instrument and controls (the instrument's conditioning
set plus the back-door adjustment set); F < 10 flags a weak instrument (Staiger & Stock 1997).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from tasks.graph.encode import complete_rows, numeric_blocks
from tasks.identify.report import IdentificationReport

__all__ = ["InstrumentStrength", "rank_instruments", "first_stage_f", "WEAK_F"]

log = logging.getLogger(__name__)
WEAK_F = 10.0


@dataclass(frozen=True)
class InstrumentStrength:
    name: str
    controls: list[str]
    f_statistic: float | None
    p_value: float | None
    partial_r2: float | None
    n: int
    weak: bool
    parent: bool

    def to_json(self) -> dict:
        return asdict(self)


def _rss(design: np.ndarray, target: np.ndarray) -> float:
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    residual = target - design @ coef
    return float(residual @ residual)


def first_stage_f(frame: pd.DataFrame, treatment: str, instrument: str,
                  controls: list[str]) -> tuple[float | None, float | None, float | None, int]:
    """(F, p-value, partial R^2, n) of the instrument's block in treatment ~ 1 + controls + instrument."""
    rows = complete_rows(frame, [treatment, instrument, *controls])
    blocks = numeric_blocks(rows, [treatment, instrument, *controls])
    n = len(rows)
    z = blocks[instrument]
    if n == 0 or z.shape[1] == 0 or blocks[treatment].shape[1] == 0:
        return None, None, None, n
    target = blocks[treatment][:, 0]
    restricted = np.column_stack([np.ones(n), *(blocks[c] for c in controls)])
    full = np.column_stack([restricted, z])
    rank_r, rank_f = np.linalg.matrix_rank(restricted), np.linalg.matrix_rank(full)
    q, dof = rank_f - rank_r, n - rank_f
    if q <= 0:  # the instrument is a function of the controls: it adds nothing to the first stage
        return 0.0, 1.0, 0.0, n
    if dof <= 0:
        return None, None, None, n
    rss_r, rss_f = _rss(restricted, target), _rss(full, target)
    if rss_f <= 0:
        return float("inf"), 0.0, 1.0, n
    f = ((rss_r - rss_f) / q) / (rss_f / dof)
    return float(f), float(stats.f.sf(f, q, dof)), float((rss_r - rss_f) / rss_r) if rss_r > 0 else None, n


def rank_instruments(report: IdentificationReport, frame: pd.DataFrame) -> list[InstrumentStrength]:
    """The report's instruments, strongest first stage first; each flagged weak when F < 10."""
    adjust = list(report.backdoor_all_observed or [])
    ranked = []
    for instrument in report.instruments:
        controls = sorted((set(instrument.conditioning) | set(adjust)) - {instrument.name})
        f, p, r2, n = first_stage_f(frame, report.treatment, instrument.name, controls)
        ranked.append(InstrumentStrength(instrument.name, controls, f, p, r2, n, f is None or f < WEAK_F,
                                         instrument.parent))
    ranked.sort(key=lambda s: (-(s.f_statistic if s.f_statistic is not None else -1.0), s.name))
    log.info("ranked %d instrument(s) by first-stage F", len(ranked))
    return ranked
