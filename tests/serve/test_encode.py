"""The served models' request handling without a run: encoding raw columns as the run did, and every
bad-request kind refused with a message naming the field."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from estimators.base import CausalData
from tasks.serve.encode import FeatureEncoder, RequestError, column_codes
from tasks.serve.server import parse_invocation


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame({"level": rng.choice(["new", "VIP", "regular"], n), "spend": rng.normal(100, 10, n),
                         "tier": rng.integers(1, 4, n), "t": rng.integers(0, 2, n), "y": rng.normal(size=n)})


def test_encoder_rebuilds_the_runs_design_matrix(frame):
    data = CausalData.from_frame(frame, treatment="t", outcome="y", adjustment=["level", "spend", "tier"],
                                 modifiers=["level"], categorical=["tier"])
    encoder = FeatureEncoder(column_codes(frame, ["level", "spend", "tier"], ["tier"]))
    parsed = encoder.parse({c: frame[c].to_numpy() for c in encoder.features}, len(frame))
    assert np.array_equal(encoder.matrix(parsed, ["level", "spend", "tier"], drop_first=True), data.covariates)
    assert np.array_equal(encoder.matrix(parsed, ["level"], drop_first=True), data.X)
    # JSON numbers for an integer-coded category: 2.0 is level "2"
    again = encoder.parse({"level": ["VIP"], "spend": [3], "tier": [2.0]}, 1)
    assert encoder.matrix(again, ["tier"], drop_first=False).tolist() == [[0.0, 1.0, 0.0]]


@pytest.mark.parametrize("columns, words", [
    ({"spend": [1.0], "tier": [1]}, ["missing feature 'level'"]),
    ({"level": ["Gold"], "spend": [1.0], "tier": [1]}, ["'level'", "unknown category 'Gold'", "VIP, new, regular"]),
    ({"level": ["VIP"], "spend": ["lots"], "tier": [1]}, ["'spend'", "must be a number", "'lots'"]),
    ({"level": ["VIP"], "spend": [None], "tier": [1]}, ["'spend'", "null"]),
    ({"level": [None], "spend": [1.0], "tier": [1]}, ["'level'", "null"]),
    ({"level": ["VIP"], "spend": [True], "tier": [1]}, ["'spend'", "must be a number"]),
])
def test_bad_values_are_refused_naming_the_feature(frame, columns, words):
    encoder = FeatureEncoder(column_codes(frame, ["level", "spend", "tier"], ["tier"]))
    with pytest.raises(RequestError) as caught:
        encoder.parse(columns, 1)
    assert caught.value.status == 400
    for word in words:
        assert word in str(caught.value)


def test_invocation_bodies_both_layouts_and_their_errors():
    features = ["a", "b"]
    records = json.dumps({"dataframe_records": [{"a": 1, "b": "x"}, {"a": 2, "b": "y", "extra": 0}]}).encode()
    assert parse_invocation(records, features, 10) == ({"a": [1, 2], "b": ["x", "y"]}, 2)
    split = json.dumps({"dataframe_split": {"columns": ["b", "a", "c"], "data": [["x", 1, 0], ["y", 2, 0]]}}).encode()
    assert parse_invocation(split, features, 10) == ({"a": [1, 2], "b": ["x", "y"]}, 2)
    for body, status, words in [
        (b"not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"instances": []}', 400, "dataframe_records"),
        (json.dumps({"dataframe_records": [{"a": 1}]}).encode(), 400, "missing feature 'b' (row 0)"),
        (json.dumps({"dataframe_records": [1]}).encode(), 400, "row 0 must be an object"),
        (json.dumps({"dataframe_records": [{"a": 1, "b": "x"}] * 11}).encode(), 413, "limit of 10 rows"),
        (json.dumps({"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}).encode(), 400,
         "row 0 must be a list of 1"),
    ]:
        with pytest.raises(RequestError) as caught:
            parse_invocation(body, features, 10)
        assert caught.value.status == status and words in str(caught.value), (body, str(caught.value))
