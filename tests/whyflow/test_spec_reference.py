"""docs/spec.md is generated from whyflow/spec.py; `whyflow spec [KEY]` prints its entries."""

from __future__ import annotations

import pytest

from flows.cli import main
from tests.conftest import REPO
from whyflow.errors import SpecError
from whyflow.spec import AnalysisSpec
from whyflow.spec_reference import REGENERATE, render_markdown, select_keys, spec_keys


def test_committed_reference_matches_the_model():
    committed = (REPO / "docs" / "spec.md").read_text()
    assert committed == render_markdown(), f"docs/spec.md is out of date with whyflow/spec.py; run `{REGENERATE}`"


def test_every_key_and_nested_key_is_documented():
    paths = {d.path for d in spec_keys()}
    assert set(AnalysisSpec.model_fields) - {"name", "base_dir"} <= paths
    for group in ("data.sql", "gates", "overlap", "sensitivity", "nuisance", "negative_controls", "decision"):
        assert group in paths and any(p.startswith(group + ".") for p in paths), group
    assert all(d.description and d.type and d.default for d in spec_keys())
    estimand = next(d for d in spec_keys() if d.path == "estimand")
    assert (estimand.type, estimand.default, estimand.example) == ("one of ate, att, atc (any case)", "ate", "att")


def test_select_one_key_a_group_or_refuse_with_the_closest():
    assert [d.path for d in select_keys("gates.min_rows")] == ["gates.min_rows"]
    assert [d.path for d in select_keys("data.sql")] == ["data.sql", "data.sql.url", "data.sql.table",
                                                        "data.sql.query", "data.sql.params"]
    with pytest.raises(SpecError, match=r"^spec key 'estimater' is not a key of the analysis spec; did you mean "
                                        r"'estimators'"):
        select_keys("estimater")


def test_whyflow_spec_prints_the_reference(capsys):
    assert main(["spec", "estimand"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("estimand\n    one of ate, att, atc (any case); default ate; e.g. att\n")
    assert main(["spec"]) == 0
    assert "gates.max_null_fraction" in capsys.readouterr().out


def test_whyflow_spec_unknown_key_exits_2_in_one_line(capsys):
    assert main(["spec", "gatez"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("whyflow: error: spec key 'gatez' is not a key") \
        and "did you mean 'gates'" in err
