"""The `sample` key: bad values are one-line spec errors naming the key."""

from __future__ import annotations

import pytest

from whyflow.errors import SpecError
from whyflow.spec import load_spec

BASE = """analyses:
  a:
    data: {path: x.parquet}
    treatment: t
    outcome: y
    confounders: [w]
"""


@pytest.mark.parametrize("value, message", [
    ("{rate: 0}", "key 'sample.rate': Input should be greater than 0; got 0"),
    ("{rate: 1.5}", "key 'sample.rate': Input should be less than or equal to 1; got 1.5"),
    ("{rate: often}", "key 'sample.rate': Input should be a valid number"),
    ("{stratify_by: [w]}", "key 'sample.rate' is required"),
    ("{rate: 0.1, stratify_by: [y]}", "'sample.stratify_by' must not name the treatment or outcome; got ['y']"),
    ("{rate: 0.1, stratify_by: [w, v]}", "key 'sample.stratify_by': List should have at most 1 item"),
    ("{rate: 0.1, strata: [w]}", "unknown key 'sample.strata'; keys of 'sample': rate, stratify_by"),
    ("0.1", "key 'sample': Input should be a valid dictionary"),
])
def test_bad_sample_values_are_one_line_errors(tmp_path, value, message):
    (tmp_path / "params.yaml").write_text(BASE + f"    sample: {value}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "params.yaml", "a")
    text = str(caught.value)
    assert text.startswith("analysis 'a': ") and message in text and len(text.splitlines()) == 1


def test_a_valid_sample_names_its_stratum_column_as_needed(tmp_path):
    (tmp_path / "params.yaml").write_text(BASE + "    sample: {rate: 0.1, stratify_by: [level]}\n")
    spec = load_spec(tmp_path / "params.yaml", "a")
    assert spec.sample.rate == 0.1 and "level" in spec.columns_needed()


def test_sample_on_an_in_memory_run_is_refused_in_one_line(tmp_path):
    from tasks.scale.source import choose_engine

    (tmp_path / "params.yaml").write_text(BASE + "    sample: {rate: 0.1}\n")
    with pytest.raises(SpecError, match=r"^analysis 'a': key 'sample' applies to streamed runs .*runs in memory$"):
        choose_engine(load_spec(tmp_path / "params.yaml", "a"))
