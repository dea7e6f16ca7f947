"""Large sources: a Parquet directory or glob read in chunks, its DVC directory hash, the engine choice,
the streaming quality pass, and streaming from files equal to the in-memory estimators."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from data.generate_large import write_large
from whyflow.errors import DataError, SpecError
from whyflow.spec import AnalysisSpec

CONFOUNDERS = ["historical_gmv", "user_activity", "purchase_frequency", "member_level"]


def _spec(base: Path, path: str, **extra) -> AnalysisSpec:
    return AnalysisSpec(name="big", base_dir=base, data={"path": path}, treatment="coupon_sent", outcome="gmv",
                        confounders=CONFOUNDERS, effect_modifiers=["member_level"], segments=["member_level"],
                        **extra)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("large")
    return write_large(6000, out, chunk_rows=1500, seed=3)


def test_missing_directory_is_one_line_data_error(tmp_path):
    from tasks.scale.source import open_source

    with pytest.raises(DataError, match=r"^analysis 'big': data path 'nowhere' not found$"):
        open_source(_spec(tmp_path, "nowhere"))


def test_empty_glob_and_empty_directory_are_refused(tmp_path):
    from tasks.scale.source import open_source

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"glob 'empty/\*\.parquet' matches no files"):
        open_source(_spec(tmp_path, "empty/*.parquet"))
    with pytest.raises(DataError, match=r"data directory 'empty' has no \.parquet files"):
        open_source(_spec(tmp_path, "empty"))


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    from tasks.scale.source import open_source

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "part-0.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"'part-0.parquet' in 'd' is not Parquet"):
        open_source(_spec(tmp_path, "d"))


def test_glob_and_directory_give_the_same_rows_in_order(dataset):
    from estimators.streaming.engines import iter_frames
    from tasks.scale.source import open_source

    by_dir = open_source(_spec(dataset.parent, dataset.name))
    by_glob = open_source(_spec(dataset.parent, f"{dataset.name}/part-*.parquet"))
    assert by_dir.files == by_glob.files and by_dir.rows == 6000
    frames = list(iter_frames(by_dir, ["user_id", "gmv"], 1000))
    whole = pd.concat(frames)
    assert list(whole.index) == list(range(6000))
    assert np.array_equal(whole.user_id.to_numpy(), np.arange(1, 6001))


def test_over_budget_non_streaming_estimator_names_the_alternatives(dataset):
    from tasks.identify.effect import identify_effect
    from tasks.graph.model import graph_from_roles
    from tasks.plan import plan_analysis, preflight
    from tasks.scale.source import choose_engine

    spec = _spec(dataset.parent, dataset.name, memory_budget_gb=1e-6, estimators=["linear_regression", "ipw"])
    with pytest.raises(SpecError, match=r"estimator\(s\) \['linear_regression', 'ipw'\] cannot stream .*"
                                        r"stream_linear_regression"):
        preflight(spec)
    streamed = _spec(dataset.parent, dataset.name, memory_budget_gb=1e-6)
    engine = preflight(streamed)
    plan = plan_analysis(streamed, identify_effect(graph_from_roles(streamed), streamed), engine)
    assert engine.kind == "stream" and plan.estimators == ("stream_linear_regression", "stream_linear_dml", "stream_aipw")
    assert choose_engine(_spec(dataset.parent, dataset.name)).kind == "memory"


@pytest.mark.slow
def test_dir_hash_equals_what_dvc_add_records(dataset, tmp_path):
    from tasks.data.snapshot import dataset_md5
    from tasks.scale.source import open_source

    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo, check=True)
    copy = repo / "coupon"
    copy.mkdir()
    for f in dataset.glob("*.parquet"):
        (copy / f.name).write_bytes(f.read_bytes())
    subprocess.run([sys.executable, "-m", "dvc", "add", "-q", "coupon"], cwd=repo, check=True)
    recorded = yaml.safe_load((repo / "coupon.dvc").read_text())["outs"][0]["md5"]
    source = open_source(_spec(dataset.parent, dataset.name))
    assert dataset_md5(source.files, source.root)[0] == recorded


def test_snapshot_dataset_is_in_cache_and_remote(project):
    from tasks.data.snapshot import dataset_md5, snapshot_dataset
    from tasks.scale.source import open_source

    folder = write_large(3000, project / "data" / "large", chunk_rows=1000, seed=4)
    spec = _spec(project, f"data/large/{folder.name}")
    snap = snapshot_dataset(open_source(spec), spec)
    assert snap.md5.endswith(".dir") and snap.rows == 3000
    remote = project.parent / "remote" / "files" / "md5"
    stored = {p.parent.name + p.name for p in remote.rglob("*") if p.is_file()}
    entries = dataset_md5(open_source(spec).files, folder)[2]
    assert snap.md5 in stored and {e["md5"] for e in entries} <= stored
    cache = project / ".dvc" / "cache" / "files" / "md5" / entries[0]["md5"][:2] / entries[0]["md5"][2:]
    assert cache.stat().st_ino == (folder / entries[0]["relpath"]).stat().st_ino  # a hardlink, not a copy


@pytest.mark.slow
def test_quality_pass_counts_every_row_and_samples_independently_of_chunks(dataset):
    from tasks.scale.quality import check_stream_quality, scan_source
    from tasks.scale.source import open_source

    columns = ["coupon_sent", "gmv", *CONFOUNDERS]
    spec = _spec(dataset.parent, dataset.name, chunk_rows=1000)
    source = open_source(spec)
    small = scan_source(source, spec, columns, sample_rows=600)
    large = scan_source(source, _spec(dataset.parent, dataset.name, chunk_rows=5000), columns, sample_rows=600)
    assert small.rows == 6000 and small.levels["member_level"] == ["SVIP", "VIP", "new", "regular"]
    assert list(small.sample.index) == list(large.sample.index) and 450 < len(small.sample) < 750
    report = check_stream_quality(small, spec, CONFOUNDERS)
    assert report.success and report.rows == 6000
    assert report.validation["whyflow_stream"]["sample_rows"] == len(small.sample)


def test_streaming_from_files_equals_in_memory(dataset):
    from estimators.base import CausalData
    from estimators.streaming.fit import run_streaming
    from estimators.streaming.passes import StreamRequest
    from estimators.streaming.engines import MemoryEngine
    from tasks.scale.quality import frame_design, scan_source
    from estimators.streaming.engines import ChunkEngine
    from tasks.scale.source import open_source

    spec = _spec(dataset.parent, dataset.name, chunk_rows=1000)
    source = open_source(spec)
    scan = scan_source(source, spec, ["coupon_sent", "gmv", *CONFOUNDERS])
    design = frame_design(scan, spec, CONFOUNDERS)
    frame = pd.concat(pd.read_parquet(f) for f in source.files)
    data = CausalData.from_frame(frame, treatment="coupon_sent", outcome="gmv", adjustment=CONFOUNDERS,
                                 modifiers=["member_level"], segments=["member_level"])
    assert design.layout.w_names == data.covariate_names
    request = StreamRequest(overlap=True, estimand="att")
    got = run_streaming(ChunkEngine(source, design, 700), request)
    want = run_streaming(MemoryEngine(data, seed=spec.seed, chunk_rows=10**6), request)
    for method in ("linear_regression", "linear_dml", "aipw"):
        assert got[method]["value"] == pytest.approx(want[method]["value"], rel=1e-10)
        assert got[method]["std_error"] == pytest.approx(want[method]["std_error"], rel=1e-10)
    assert got["overlap"]["histogram"] == want["overlap"]["histogram"]


def test_sql_source_is_read_in_chunks_into_a_parquet_dataset(tmp_path):
    import sqlalchemy as sa

    from data.generate import coupon_campaign
    from tasks.data.snapshot import dataset_md5, write_sql_dataset

    frame, _ = coupon_campaign(rows=2300, seed=1)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    frame.to_sql("campaign", engine, index=False)
    engine.dispose()
    spec = AnalysisSpec(name="big", base_dir=tmp_path, data={"sql": {"url": f"sqlite:///{tmp_path / 'warehouse.db'}",
                                                                     "table": "campaign"}},
                        treatment="coupon_sent", outcome="gmv", confounders=CONFOUNDERS, engine="stream")
    folder = write_sql_dataset(spec, chunk_rows=1000)
    files = sorted(folder.glob("*.parquet"))
    assert len(files) == 3 and folder.name == dataset_md5(files, folder)[0]
    back = pd.concat(pd.read_parquet(f) for f in files).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
