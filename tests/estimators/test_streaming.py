"""Streaming estimators against the in-memory ones: equal to 1e-8 relative on data that fit.

References: linear_regression (same OLS, HC1), EconML LinearDML given the same folds and the same
linear/logistic nuisances, aipw given the same folds, tasks/overlap.check_overlap. Chunk size and
fold assignment must not change any number.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from data.generate import coupon_campaign
from estimators import registry
from estimators.base import CausalData
from estimators.streaming.fit import run_streaming
from estimators.streaming.passes import StreamRequest
from estimators.streaming.blocks import fold_of
from estimators.streaming.engines import MemoryEngine

ADJUST = ["historical_gmv", "user_activity", "purchase_frequency", "member_level"]
RTOL = 1e-8


@pytest.fixture(scope="module")
def data() -> CausalData:
    frame, _ = coupon_campaign(rows=6000, seed=5)
    return CausalData.from_frame(frame, treatment="coupon_sent", outcome="gmv", adjustment=ADJUST,
                                 modifiers=["member_level"], segments=["member_level"])


def _close(a: float, b: float) -> None:
    assert a == pytest.approx(b, rel=RTOL), (a, b)


@pytest.mark.parametrize("estimand", ["ate", "att", "atc"])
def test_linear_regression_equals_in_memory(data, estimand):
    stream = registry.get("stream_linear_regression")(estimand=estimand, chunk_rows=700).fit(data).estimate_
    memory = registry.get("linear_regression")(estimand=estimand).fit(data).estimate_
    _close(stream.value, memory.value)
    _close(stream.std_error, memory.std_error)
    for got, want in zip(stream.segments["member_level"], memory.segments["member_level"]):
        assert got["segment"] == want["segment"] and got["n"] == want["n"]
        _close(got["cate"], want["cate"])
        _close(got["std_error"], want["std_error"])


def _econml_dml(data: CausalData, folds: np.ndarray, rows: np.ndarray):
    from econml.dml import LinearDML
    from sklearn.linear_model import LinearRegression

    from estimators.propensity import LogisticIRLS

    splits = [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(5)]
    model = LinearDML(model_y=LinearRegression(), model_t=LogisticIRLS(), discrete_treatment=True, cv=splits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data.Y, data.T.astype(int), X=data.X, W=data.W)
        inference = model.ate_inference(X=data.X[rows])
    return float(np.ravel(inference.mean_point)[0]), float(np.ravel(inference.stderr_mean)[0])


@pytest.mark.slow
@pytest.mark.parametrize("estimand", ["ate", "att"])
def test_linear_dml_equals_econml_with_the_same_folds(data, estimand):
    engine = MemoryEngine(data, folds=5, seed=3, chunk_rows=900)
    out = run_streaming(engine, StreamRequest(methods=("linear_dml",), estimand=estimand))["linear_dml"]
    rows = np.ones(data.n, bool) if estimand == "ate" else data.T == 1
    value, se = _econml_dml(data, engine.fold, rows)
    _close(out["value"], value)
    _close(out["std_error"], se)


def test_linear_dml_within_one_se_of_econml_default_folds(data):
    stream = registry.get("stream_linear_dml")(seed=3).fit(data).estimate_
    econml = registry.get("linear_dml")(seed=3).fit(data).estimate_
    assert abs(stream.value - econml.value) < econml.std_error


@pytest.mark.parametrize("estimand", ["ate", "att", "atc"])
def test_aipw_equals_in_memory_aipw_with_the_same_folds(data, estimand):
    from estimators.aipw import _folds

    memory = registry.get("aipw")(estimand=estimand, seed=9).fit(data).estimate_
    engine = MemoryEngine(data, folds=5, chunk_rows=1100, fold=_folds(data.n, 5, 9))
    out = run_streaming(engine, StreamRequest(methods=("aipw",), estimand=estimand))["aipw"]
    _close(out["value"], memory.value)
    _close(out["std_error"], memory.std_error)


@pytest.mark.parametrize("estimand", ["ate", "att"])
def test_overlap_equals_check_overlap(data, estimand):
    from tasks.evidence.overlap import check_overlap

    want = check_overlap(data, estimand)
    got = run_streaming(MemoryEngine(data, chunk_rows=500), StreamRequest(methods=(), estimand=estimand,
                                                                          overlap=True))["overlap"]
    assert got["common_support"] == want.common_support
    assert got["histogram"]["treated"] == want.histogram["treated"]
    assert got["histogram"]["control"] == want.histogram["control"]
    for key in ("max_smd_before", "max_smd_after"):
        _close(got[key], getattr(want, key))
    for arm in ("treated", "control"):
        _close(got["effective_sample_size"][arm], want.effective_sample_size[arm])
    _close(got["support"][0], want.support[0])


def test_common_support_counts_beyond_the_tail_buffers(data):
    """More units outside the support than the tail buffers hold: one extra counting pass, same share."""
    from estimators.streaming import fit as stream_fit
    from tasks.evidence.overlap import check_overlap

    shifted = data.replace(T=np.where(data.W[:, 0] > np.quantile(data.W[:, 0], 0.97), 1.0, data.T))
    for estimand in ("ate", "att", "atc"):  # each counts the units its estimand is about
        want = check_overlap(shifted, estimand).common_support
        result = stream_fit.run_streaming(MemoryEngine(shifted, chunk_rows=800),
                                          StreamRequest(methods=(), estimand=estimand, overlap=True, tail_rows=16))
        assert result["overlap"]["common_support"] == want
    assert check_overlap(shifted, "ate").common_support < 0.999


def test_chunk_size_does_not_change_the_numbers(data):
    request = StreamRequest(estimand="ate", overlap=True)
    small = run_streaming(MemoryEngine(data, seed=4, chunk_rows=313), request)
    large = run_streaming(MemoryEngine(data, seed=4, chunk_rows=10**6), request)
    for method in ("linear_regression", "linear_dml", "aipw"):
        _close(small[method]["value"], large[method]["value"])
        _close(small[method]["std_error"], large[method]["std_error"])
    assert small["overlap"]["histogram"] == large["overlap"]["histogram"]


def test_folds_depend_only_on_the_key_and_the_seed():
    keys = np.arange(10_000)
    whole = fold_of(keys, 42, 5)
    pieces = np.concatenate([fold_of(keys[i:i + 777], 42, 5) for i in range(0, keys.size, 777)])
    assert np.array_equal(whole, pieces)
    assert np.array_equal(fold_of(keys.astype(str), 42, 5), fold_of(keys.astype(str)[::-1], 42, 5)[::-1])
    counts = np.bincount(whole, minlength=5)
    assert counts.min() > 1850  # about 2000 each: binomial sd 40, so 1850 is 3.75 sd below
    assert not np.array_equal(whole, fold_of(keys, 43, 5))


def test_registry_lists_the_streaming_estimators():
    rows = {row["name"]: row for row in registry.describe()}
    for name in ("stream_linear_regression", "stream_linear_dml", "stream_aipw"):
        assert rows[name]["streams"] is True
    assert rows["linear_regression"]["streams"] is False
