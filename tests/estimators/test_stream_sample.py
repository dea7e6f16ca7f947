"""Spec `sample` on streamed data: a seeded Bernoulli sample by unit hash, post-stratified to the full
data's stratum counts; its intervals cover the truth at the nominal rate."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from data.generate_large import write_large
from estimators.streaming.arrow import ParallelEngine, RowGroups
from estimators.streaming.blocks import FrameDesign
from estimators.streaming.fit import run_streaming
from estimators.streaming.passes import StreamRequest
from whyflow.spec import AnalysisSpec

LEVELS = ["SVIP", "VIP", "new", "regular"]


def _design(rate: float, seed: int = 42) -> FrameDesign:
    return FrameDesign(treatment="coupon_sent", outcome="gmv",
                       covariates=["historical_gmv", "user_activity", "purchase_frequency", "member_level"],
                       modifiers=["member_level"], segments=["member_level"], levels={"member_level": LEVELS},
                       segment_levels={"member_level": LEVELS}, seed=seed, sample_rate=rate)


def _strata(folder) -> tuple:
    frame = pq.read_table(folder, columns=["member_level", "coupon_sent"]).to_pandas()
    counts = frame.groupby("member_level", observed=True)["coupon_sent"].agg(["size", "sum"])
    return "member_level", {lv: (int(counts.loc[lv, "size"]), int(counts.loc[lv, "sum"])) for lv in LEVELS}


def _run(folder, rate: float, estimand: str = "ate", strata=None) -> dict:
    from tasks.scale.source import open_source

    spec = AnalysisSpec(name="s", base_dir=folder.parent, data={"path": folder.name}, treatment="coupon_sent",
                        outcome="gmv", confounders=["historical_gmv"])
    with RowGroups(open_source(spec), workers=1) as groups:
        return run_streaming(ParallelEngine(groups, _design(rate), chunk_rows=5000),
                             StreamRequest(estimand=estimand, sample_rows=5000, strata=strata))


def test_the_sample_keeps_about_rate_of_the_rows_and_post_stratifies(tmp_path):
    folder = write_large(40_000, tmp_path, chunk_rows=10_000, seed=3)
    full, sampled = _run(folder, 1.0), _run(folder, 0.25, strata=_strata(folder))
    assert abs(sampled["n"] / full["n"] - 0.25) < 0.015
    details = sampled["aipw"]["details"]
    assert details["post_stratified"]["by"] == "member_level"
    shares = np.array(details["post_stratified"]["weights"])
    expected = np.array([_strata(folder)[1][lv][0] for lv in LEVELS]) / 40_000
    np.testing.assert_allclose(shares, expected)
    # the interval of the sample is wider, as it should be: about 1/sqrt(rate) = 2x
    for name in ("linear_regression", "linear_dml", "aipw"):
        assert 1.6 < sampled[name]["std_error"] / full[name]["std_error"] < 2.5, name


@pytest.mark.slow
def test_sampled_intervals_cover_the_truth():
    """40 replications (each its own data set of 20,000 rows, a 25% sample post-stratified by member
    level): the 95% intervals of all three estimators cover the true ATE in at least 34 of 40 (a
    binomial(40, 0.95) falls below 34 with probability 0.01; observed 40, 40 and 39 of 40)."""
    import tempfile
    from pathlib import Path

    covered = np.zeros(3)
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(40):
            folder = write_large(20_000, Path(tmp) / f"r{rep}", chunk_rows=10_000, seed=100 + rep)
            truth = json.loads((folder.parent / f"{folder.name}.truth.json").read_text())["ate"]
            result = _run(folder, 0.25, strata=_strata(folder))
            for i, name in enumerate(("linear_regression", "linear_dml", "aipw")):
                value, se = result[name]["value"], result[name]["std_error"]
                covered[i] += abs(value - truth) <= 1.959964 * se
    assert (covered >= 34).all(), covered
