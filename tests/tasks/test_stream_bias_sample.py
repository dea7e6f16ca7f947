"""Bias checks of a streamed run on a seeded subsample (tasks/scale/bias_sample.py): plasmode passes for
the streamed regression on linear confounding and fails on nonlinear confounding (linear outcome model,
the case the check is built to catch); the record names the subsample size, seed and the refitted
estimator, and the subsample does not depend on the chunking. One seed each (rates: bench/results/bias-checks.md)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.dgps import nonlinear_confounding
from data.generate_large import write_large
from estimators.base import Estimate, normal_inference
from estimators.streaming.arrow import ParallelEngine, RowGroups
from estimators.streaming.blocks import FrameDesign
from estimators.streaming.fit import run_streaming
from estimators.streaming.passes import StreamRequest
from tasks.evidence.refute import REFUTERS
from tasks.evidence.refutation import refutation_of
from tasks.scale.bias_sample import bias_subsample, streamed_bias_checks

ROWS = 6000  # subsample size in these tests (the flow uses BIAS_SAMPLE_ROWS = 20,000)
SIMULATIONS = 20


def _source(folder: Path, treatment: str, outcome: str):
    from tasks.scale.source import open_source
    from whyflow.spec import AnalysisSpec

    spec = AnalysisSpec(name="big", base_dir=folder.parent, data={"path": folder.name}, treatment=treatment,
                        outcome=outcome, confounders=[])
    return open_source(spec)


def _streamed(folder: Path, design: FrameDesign) -> list[Estimate]:
    with RowGroups(_source(folder, design.treatment, design.outcome), workers=1) as groups:
        result = run_streaming(ParallelEngine(groups, design, chunk_rows=4000),
                               StreamRequest(methods=("linear_regression",), sample_rows=5000))
    value, se = result["linear_regression"]["value"], result["linear_regression"]["std_error"]
    return [Estimate("stream_linear_regression", "ate", value=value, std_error=se, **normal_inference(value, se),
                     n=result["n"])]


def _sample(folder: Path):
    frame = pq.read_table(folder).to_pandas()  # the scan's sample at rate 1: every row, global row numbers
    return frame


def _check(folder: Path, design: FrameDesign, refuters=("plasmode",)):
    estimates = _streamed(folder, design)
    before = [refutation_of(r, e, REFUTERS[r], status="not_applicable", verdict="not_applicable")
              for r in ("placebo", *refuters) for e in estimates]
    after = streamed_bias_checks(before, _sample(folder), design, estimates, list(refuters), seed=7,
                                 simulations=SIMULATIONS, rows=ROWS)
    return {(r.refuter, r.estimator): r for r in after}


@pytest.fixture(scope="module")
def linear(tmp_path_factory) -> tuple[Path, FrameDesign]:
    levels = ["SVIP", "VIP", "new", "regular"]
    design = FrameDesign(treatment="coupon_sent", outcome="gmv", covariates=["historical_gmv", "user_activity",
                         "purchase_frequency", "member_level"], modifiers=[], segments=[],
                         levels={"member_level": levels}, seed=42)
    return write_large(12_000, tmp_path_factory.mktemp("large"), chunk_rows=4000, seed=11), design


@pytest.fixture(scope="module")
def nonlinear(tmp_path_factory) -> tuple[Path, FrameDesign]:
    folder = tmp_path_factory.mktemp("nonlinear")
    frame = nonlinear_confounding(12_000, seed=3).frame
    for k in range(3):
        pq.write_table(pa.Table.from_pandas(frame.iloc[k * 4000:(k + 1) * 4000], preserve_index=False),
                       folder / f"part-{k}.parquet")
    return folder, FrameDesign(treatment="t", outcome="y", covariates=["w1", "w2"], modifiers=[], segments=[],
                               levels={}, seed=42)


def test_plasmode_on_the_subsample_passes_on_linear_confounding(linear):
    records = _check(*linear, refuters=("plasmode", "dummy_outcome"))
    plasmode = records[("plasmode", "stream_linear_regression")]
    assert plasmode.verdict == "pass" and plasmode.simulations == SIMULATIONS
    assert plasmode.details["streamed"] is True and plasmode.details["subsample_rows"] == ROWS
    assert plasmode.details["estimator_refitted"] == "linear_regression" and "subsample_seed" in plasmode.details
    assert records[("dummy_outcome", "stream_linear_regression")].verdict == "pass"
    assert records[("placebo", "stream_linear_regression")].verdict == "not_applicable"  # others untouched


def test_plasmode_on_the_subsample_fails_on_nonlinear_confounding(nonlinear):
    plasmode = _check(*nonlinear)[("plasmode", "stream_linear_regression")]
    assert plasmode.verdict == "fail", plasmode.details
    assert plasmode.details["subsample_rows"] == ROWS and plasmode.details["outcome_model"] == "linear+lightgbm"


def test_the_subsample_is_the_same_in_any_row_order(nonlinear):
    folder, design = nonlinear
    frame = _sample(folder)
    one, two = bias_subsample(frame, design, 7, 500), bias_subsample(frame.iloc[::-1], design, 7, 500)
    assert one.n == 500 and sorted(one.Y.tolist()) == sorted(two.Y.tolist())
