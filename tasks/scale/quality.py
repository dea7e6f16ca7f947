"""Quality at scale: one streaming pass over every row, then the Great Expectations suite on a seeded sample.

The pass counts rows and nulls, collects the treatment's values, each numeric column's range and
each categorical column's levels (which fix the dummy columns every chunk gets), and draws a
Bernoulli sample by a seeded hash of the row number (or unit id), so the sample is the same in
every chunking. Full-data checks and the GX suite on the sample must both pass; the report records
the sample size, rate and seed.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from estimators.streaming.blocks import FrameDesign, reduce_stats
from tasks.data.quality import QualityReport, check_quality, gate_message
from estimators.streaming.engines import ParquetDataset, iter_frames
from whyflow.spec import AnalysisSpec

__all__ = ["Scan", "scan_source", "check_stream_quality", "frame_design", "SAMPLE_ROWS"]

log = logging.getLogger(__name__)
SAMPLE_ROWS = 100_000
_MAX_LEVELS = 10_000


@dataclass(frozen=True)
class Scan:
    rows: int
    nulls: dict[str, int]
    minimum: dict[str, float]
    maximum: dict[str, float]
    treatment_values: list
    levels: dict[str, list[str]]
    sample: pd.DataFrame = field(repr=False)
    sample_rate: float = 1.0
    sample_seed: int = 0
    categorical: frozenset[str] = frozenset()
    strata: dict[str, int] = field(default_factory=dict)  # sample.stratify_by: full-data units per level ("<level>\x00treated": treated)


def _is_categorical(series: pd.Series, column: str, declared: set[str]) -> bool:
    return column in declared or not ptypes.is_numeric_dtype(series) or ptypes.is_bool_dtype(series)


def _bucket(keys: np.ndarray, seed: int) -> np.ndarray:
    """A uniform draw in [0, 1) per key from the folds' seeded 64-bit mix: a sample that does not
    depend on the chunking."""
    import estimators.streaming.blocks as st

    z = np.asarray(keys).astype(np.int64).view(np.uint64)
    salt = np.random.SeedSequence([seed, 1]).generate_state(1, np.uint64)[0]
    with np.errstate(over="ignore"):
        z = (z ^ salt) + st._GOLDEN
        z = (z ^ (z >> np.uint64(30))) * st._M1
        z = (z ^ (z >> np.uint64(27))) * st._M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _scan_chunk(frame: pd.DataFrame, spec: AnalysisSpec, categorical: set[str], rate: float, seed: int) -> dict:
    out: dict = {"rows": len(frame), "nulls": frame.isna().sum().to_numpy()}
    for column in frame.columns:
        series = frame[column]
        if column in categorical or column in _grouped(spec):
            out[f"set:{column}"] = set(series.dropna().astype(str).unique().tolist()) \
                if not isinstance(series.dtype, pd.CategoricalDtype) else \
                {str(c) for c in series.cat.categories[np.unique(series.cat.codes[series.cat.codes >= 0])]}
        elif ptypes.is_numeric_dtype(series) and series.notna().any():
            values = series.to_numpy(dtype=float, na_value=np.nan)
            out[f"min:{column}"], out[f"max:{column}"] = np.nanmin(values), np.nanmax(values)
    treatment = frame[spec.treatment]
    if spec.treatment_type == "binary":
        out["set:__treatment"] = set(pd.unique(treatment.dropna()).tolist()[:20])
    if rate < 1.0:
        keys = frame.index.to_numpy() if not spec.unit_id else pd.util.hash_array(frame[spec.unit_id].to_numpy().astype(object)).view(np.int64)
        frame = frame.loc[_bucket(keys, seed) < rate]
    out["sample"] = [frame]
    return out


def _grouped(spec: AnalysisSpec) -> list[str]:
    """Columns whose levels the scan collects besides the categorical ones, and the streamed passes sum per
    level: segments, the sample's strata and the streamed decision's feature."""
    from tasks.scale.decision import decision_feature

    feature = decision_feature(spec)
    return list(dict.fromkeys([*spec.segments, *(spec.sample.stratify_by if spec.sample is not None else []),
                               *([feature] if feature else [])]))


def _levels_of(column) -> set[str]:
    """The distinct non-null values of an Arrow column as the pandas path labels them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(array.type):
        codes = array.indices.drop_null().to_numpy(zero_copy_only=False)
        used = np.flatnonzero(np.bincount(codes.astype(np.intp), minlength=len(array.dictionary)))
        return {str(v) for v in array.dictionary.take(pa.array(used)).to_pylist()}
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return set(pc.unique(array).drop_null().to_pylist())
    return set(pd.Series(array.to_pandas()).dropna().astype(str).unique().tolist())


def _scan_table(table, start: int, spec: AnalysisSpec, categorical: set[str], rate: float, seed: int) -> dict:
    """_scan_chunk on an Arrow row group, without building a pandas frame (only the sampled rows become one)."""
    import pyarrow as pa

    out: dict = {"rows": table.num_rows, "nulls": np.array([table.column(c).null_count for c in table.column_names])}
    for column in table.column_names:
        array = table.column(column)
        if column in categorical or column in _grouped(spec):
            out[f"set:{column}"] = _levels_of(array)
        elif (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)) and array.null_count < len(array):
            values = array.to_numpy() if not array.null_count else \
                array.to_pandas().to_numpy(dtype=float, na_value=np.nan)
            out[f"min:{column}"], out[f"max:{column}"] = np.nanmin(values), np.nanmax(values)
    if spec.treatment_type == "binary":
        out["set:__treatment"] = set(pd.unique(table.column(spec.treatment).drop_null().to_numpy()).tolist()[:20])
    n = table.num_rows
    if spec.sample is not None and spec.sample.stratify_by:  # the full data's units (and treated) per stratum
        column = spec.sample.stratify_by[0]
        labels = table.column(column).to_pandas().astype(str).to_numpy()
        treated = table.column(spec.treatment).to_numpy(zero_copy_only=False) == 1
        out["strata"] = Counter(labels.tolist()) + Counter((f"{lv}\x00treated" for lv in labels[treated]))
    if rate < 1.0:
        keys = np.arange(start, start + n) if not spec.unit_id else \
            pd.util.hash_array(table.column(spec.unit_id).to_numpy().astype(object)).view(np.int64)
        rows = np.flatnonzero(_bucket(keys, seed) < rate)
        picked = table.take(pa.array(rows))
    else:
        rows, picked = np.arange(n), table
    frame = picked.to_pandas()
    frame.index = pd.Index(start + rows)
    out["sample"] = [frame]
    return out


def scan_source(source: ParquetDataset, spec: AnalysisSpec, columns: list[str], sample_rows: int = SAMPLE_ROWS,
                groups=None) -> Scan:
    """One pass over all rows of the needed columns (levels, counts, ranges, seeded sample); over the
    row groups in `groups`' worker processes (estimators.streaming.arrow.RowGroups) when given."""
    columns = list(dict.fromkeys(columns))
    first = next(iter_frames(source, columns, 1000))
    declared = set(spec.categorical)
    categorical = {c for c in columns if c != spec.unit_id and _is_categorical(first[c], c, declared)}
    rate = min(1.0, sample_rows / max(source.rows, 1))
    seed = int(np.random.SeedSequence(spec.seed).generate_state(1)[0])
    if groups is not None:
        stats = groups.map_tables(partial(_scan_table, spec=spec, categorical=categorical, rate=rate, seed=seed),
                                  columns)
    else:
        stats = reduce_stats(_scan_chunk(frame, spec, categorical, rate, seed)
                             for frame in iter_frames(source, columns, spec.chunk_rows))
    levels = {}
    for column in categorical | set(_grouped(spec)):
        values = stats.get(f"set:{column}", set())
        levels[column] = sorted(values)
    sample = pd.concat(stats["sample"]) if stats["sample"] else first.iloc[:0]
    for column in categorical:  # as the in-memory path reads it: plain labels, not arrow dictionaries
        if isinstance(sample[column].dtype, pd.CategoricalDtype):
            sample[column] = sample[column].astype(str).where(sample[column].notna())
    numeric = [c for c in columns if f"min:{c}" in stats]
    return Scan(rows=int(stats["rows"]), nulls=dict(zip(columns, map(int, stats["nulls"]))),
                minimum={c: float(stats[f"min:{c}"]) for c in numeric},
                maximum={c: float(stats[f"max:{c}"]) for c in numeric},
                treatment_values=sorted(stats.get("set:__treatment", set())), levels=levels, sample=sample,
                sample_rate=rate, sample_seed=seed, categorical=frozenset(categorical),
                strata=dict(stats.get("strata", {})))


def check_stream_quality(scan: Scan, spec: AnalysisSpec, covariates: list[str]) -> QualityReport:
    """Full-data checks from the scan plus the GX suite on the sample; failures from both."""
    failed, warned = [], []

    def gate(name: str, observed: str) -> None:
        stops, message = gate_message(spec, name, observed + " (all rows)")
        (failed if stops else warned).append(message)

    if scan.rows < spec.gates.min_rows:
        gate("min_rows", f"the data have {scan.rows} rows")
    for role, column in (("treatment", spec.treatment), ("outcome", spec.outcome)):
        if scan.nulls.get(column, 0):
            failed.append(f"{role} {column!r} has {scan.nulls[column]} null value(s) (all rows)")
    if spec.treatment_type == "binary" and not set(scan.treatment_values) <= {0, 1}:
        failed.append(f"treatment {spec.treatment!r} must be binary (0/1); found {scan.treatment_values[:6]} (all rows)")
    for column in [spec.outcome, *covariates]:
        low, high = scan.minimum.get(column), scan.maximum.get(column)
        if low is not None and not (math.isfinite(low) and math.isfinite(high)):
            failed.append(f"column {column!r} has non-finite values, range [{low}, {high}] (all rows)")
    nulls = {c: scan.nulls.get(c, 0) / max(scan.rows, 1) for c in covariates}
    for column, share in nulls.items():
        if share > spec.gates.max_null_fraction:
            gate("max_null_fraction", f"column {column!r} is {share:.1%} null")
    sample_spec = spec.model_copy(update={"gates": spec.gates.model_copy(
        update={"min_rows": min(spec.gates.min_rows, max(len(scan.sample), 1))})})
    gx = check_quality(scan.sample, sample_spec, covariates)
    validation = dict(gx.validation)
    validation["whyflow_stream"] = {"rows": scan.rows, "sample_rows": len(scan.sample), "sample_rate": scan.sample_rate,
                                    "sample_seed": scan.sample_seed, "full_data_failures": failed,
                                    "ranges": {c: [scan.minimum[c], scan.maximum[c]] for c in scan.minimum},
                                    "levels": {c: len(v) for c, v in scan.levels.items()}}
    log.info("quality: %d rows checked in one pass; GX on a %d-row sample", scan.rows, len(scan.sample))
    sample_only = [f"{f} (sample)" for f in gx.failed if not f.startswith("gates.")]  # gates: judged on all rows
    return QualityReport(success=not failed and not sample_only, failed=failed + sample_only,
                         evaluated=gx.evaluated + 5, rows=scan.rows, null_fractions=nulls, validation=validation,
                         warnings=warned)


def frame_design(scan: Scan, spec: AnalysisSpec, adjustment: list[str], folds: int = 5) -> FrameDesign:
    covariates = list(dict.fromkeys([*adjustment, *spec.effect_modifiers]))
    too_many = [c for c in covariates if c in scan.categorical and len(scan.levels[c]) > _MAX_LEVELS]
    if too_many:
        from whyflow.errors import DataError

        raise DataError(f"analysis '{spec.name}': categorical column(s) {too_many} have more than {_MAX_LEVELS} "
                        "levels; streaming one-hot encodes them")
    segments = list(dict.fromkeys(_grouped(spec)))
    return FrameDesign(treatment=spec.treatment, outcome=spec.outcome, covariates=covariates,
                       modifiers=list(spec.effect_modifiers), segments=segments,
                       levels={c: scan.levels[c] for c in covariates if c in scan.categorical},
                       segment_levels={s: scan.levels[s] for s in segments},
                       sample_rate=spec.sample.rate if spec.sample is not None else 1.0,
                       treatment_type=spec.treatment_type, folds=folds, seed=spec.seed, unit_id=spec.unit_id,
                       extras=tuple(c for c in spec.negative_controls.outcomes if c not in covariates))
