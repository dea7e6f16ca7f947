"""The streaming passes on a two-worker dask LocalCluster give the single-process numbers."""

from __future__ import annotations

import pytest

from data.generate_large import write_large
from whyflow.spec import AnalysisSpec

CONFOUNDERS = ["historical_gmv", "user_activity", "purchase_frequency", "member_level"]


@pytest.mark.slow
def test_dask_equals_single_process(tmp_path, monkeypatch):
    from estimators.streaming.fit import run_streaming
    from estimators.streaming.passes import StreamRequest
    from estimators.streaming.engines import DaskEngine, dask_client
    from tasks.scale.quality import frame_design, scan_source
    from estimators.streaming.engines import ChunkEngine
    from tasks.scale.source import open_source

    monkeypatch.delenv("WHYFLOW_DASK_ADDRESS", raising=False)
    folder = write_large(8000, tmp_path, chunk_rows=1000, seed=8)
    spec = AnalysisSpec(name="big", base_dir=tmp_path, data={"path": folder.name}, treatment="coupon_sent",
                        outcome="gmv", confounders=CONFOUNDERS, effect_modifiers=["member_level"],
                        segments=["member_level"], chunk_rows=1500, unit_id="user_id")
    source = open_source(spec)
    design = frame_design(scan_source(source, spec, spec.columns_needed() + CONFOUNDERS), spec, CONFOUNDERS)
    request = StreamRequest(overlap=True)
    single = run_streaming(ChunkEngine(source, design, spec.chunk_rows), request)
    with dask_client(None, workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        distributed = run_streaming(DaskEngine(source, design, client, split_every=3), request)
    for method in ("linear_regression", "linear_dml", "aipw"):
        assert distributed[method]["value"] == pytest.approx(single[method]["value"], rel=1e-10)
        assert distributed[method]["std_error"] == pytest.approx(single[method]["std_error"], rel=1e-10)
    assert distributed["overlap"]["histogram"] == single["overlap"]["histogram"]
    assert distributed["overlap"]["common_support"] == single["overlap"]["common_support"]
