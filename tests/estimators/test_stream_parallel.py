"""The row-group engine: Arrow blocks equal the pandas path, statistics merged from worker processes
equal the one-process pass and the in-memory reference (to 1e-10), and do not depend on the order in
which row groups are merged beyond rounding."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from data.generate_large import write_large
from estimators.streaming.arrow import ParallelEngine, RowGroups, decode, read_piece_table
from estimators.streaming.blocks import FrameDesign, reduce_stats, sort_by_cell
from estimators.streaming.engines import ChunkEngine
from estimators.streaming.fit import run_streaming
from estimators.streaming.passes import StreamRequest, first_pass
from whyflow.spec import AnalysisSpec

LEVELS = ["SVIP", "VIP", "new", "regular"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_large(12_000, tmp_path_factory.mktemp("large"), chunk_rows=3000, seed=5)


def _design(**extra) -> FrameDesign:
    return FrameDesign(treatment="coupon_sent", outcome="gmv",
                       covariates=["historical_gmv", "user_activity", "purchase_frequency", "member_level"],
                       modifiers=["member_level"], segments=["member_level"], levels={"member_level": LEVELS},
                       segment_levels={"member_level": LEVELS}, seed=42, **extra)


def _source(dataset: Path):
    from tasks.scale.source import open_source

    spec = AnalysisSpec(name="big", base_dir=dataset.parent, data={"path": dataset.name}, treatment="coupon_sent",
                        outcome="gmv", confounders=["historical_gmv"])
    return open_source(spec)


def _flat(result: dict, prefix: str = "") -> dict[str, float]:
    out = {}
    for key, value in result.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[prefix + key] = float(value)
    return out


def test_arrow_block_equals_the_pandas_block(dataset):
    design = _design()
    groups = RowGroups(_source(dataset), workers=1)
    table = read_piece_table(groups.pieces[1], design.columns())
    frame = table.to_pandas()
    frame.index = range(3000, 6000)
    ours, theirs = decode(table, 3000, design), sort_by_cell(design.block(frame))
    for name in ("y", "t", "W", "X", "fold", "hash"):
        assert np.array_equal(getattr(ours, name), getattr(theirs, name)), name
    assert np.array_equal(ours.seg["member_level"], theirs.seg["member_level"])
    assert np.array_equal(ours.cells, theirs.cells)


def test_two_workers_equal_one_and_the_chunk_engine(dataset):
    design = _design()
    request = StreamRequest(overlap=True, sample_rows=4000)
    source = _source(dataset)
    with RowGroups(source, workers=1) as one, RowGroups(source, workers=2) as two:
        serial = run_streaming(ParallelEngine(one, design, chunk_rows=1000), request)
        parallel = run_streaming(ParallelEngine(two, design, chunk_rows=1000), request)
    chunked = run_streaming(ChunkEngine(source, design, chunk_rows=1000), request)
    a, b, c = _flat(serial), _flat(parallel), _flat(chunked)
    assert a == b  # the same per-row-group reduction, merged in the same order: identical
    assert a.keys() == c.keys()
    for key in a:  # other chunk boundaries: rounding, and a Newton stop that may fall one pass apart (tol 1e-8)
        if key != "passes":
            assert a[key] == pytest.approx(c[key], rel=1e-8, abs=1e-8), key
    assert serial["passes"] == parallel["passes"]


def test_merge_order_changes_nothing_beyond_rounding(dataset):
    design = _design()
    engine = ParallelEngine(RowGroups(_source(dataset), workers=1), design, chunk_rows=500)
    parts = [first_pass(b, 5, True, True, design.layout.segment_levels) for b in engine.blocks()]
    forward = reduce_stats(parts)
    shuffled = parts[:]
    random.Random(3).shuffle(shuffled)
    backward = reduce_stats(shuffled)
    for key, value in forward.items():
        np.testing.assert_allclose(backward[key], value, rtol=1e-12, atol=1e-9, err_msg=key)


def test_the_quality_scan_over_row_groups_equals_the_chunked_scan(dataset):
    from tasks.scale.quality import scan_source

    spec = AnalysisSpec(name="big", base_dir=dataset.parent, data={"path": dataset.name}, treatment="coupon_sent",
                        outcome="gmv", confounders=["historical_gmv"], segments=["member_level"],
                        sample={"rate": 0.5, "stratify_by": ["member_level"]})
    columns = ["coupon_sent", "gmv", "historical_gmv", "user_activity", "member_level"]
    chunked = scan_source(_source(dataset), spec, columns, sample_rows=2000)
    with RowGroups(_source(dataset), workers=2) as groups:
        grouped = scan_source(_source(dataset), spec, columns, sample_rows=2000, groups=groups)
    assert (grouped.rows, grouped.nulls, grouped.minimum, grouped.maximum, grouped.levels) == \
        (chunked.rows, chunked.nulls, chunked.minimum, chunked.maximum, chunked.levels)
    assert grouped.treatment_values == chunked.treatment_values == [0, 1]
    assert list(grouped.sample.index) == list(chunked.sample.index)
    assert sum(v for k, v in grouped.strata.items() if "\x00" not in k) == 12_000
