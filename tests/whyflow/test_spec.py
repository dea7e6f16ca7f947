from pathlib import Path

import pytest

from whyflow.errors import SpecError
from whyflow.spec import load_spec, redact_url

BASE = """\
analyses:
  a:
    data: {path: data.parquet}
    treatment: t
    outcome: y
    confounders: [x1, x2]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_defaults_and_paths_anchored_at_params_folder(tmp_path):
    spec = load_spec(write(tmp_path, BASE), "a")
    assert spec.estimand == "ate" and spec.treatment_type == "binary" and spec.seed == 42
    assert spec.resolve(spec.data.path) == tmp_path.resolve() / "data.parquet"
    assert spec.gates.min_common_support == 0.9


def test_params_hash_is_stable_and_tracks_changes(tmp_path):
    one = load_spec(write(tmp_path, BASE), "a").params_sha256()
    assert one == load_spec(write(tmp_path, BASE.replace("[x1, x2]", "[ x1 ,  x2 ]")), "a").params_sha256()
    assert one != load_spec(write(tmp_path, BASE), "a", ["seed=7"]).params_sha256()


def test_set_overrides_nested_keys_with_yaml_values(tmp_path):
    spec = load_spec(write(tmp_path, BASE), "a", ["gates.min_common_support=0.5", "estimators=[ipw]"])
    assert spec.gates.min_common_support == 0.5 and spec.estimators == ["ipw"]


@pytest.mark.parametrize("change, message", [
    ("    colour: red\n", "unknown key 'colour'"),
    ("    estimand: late\n", "key 'estimand'"),
    ("    gates: {min_common_support: 1.5}\n", "key 'gates.min_common_support'"),
    ("    graph: g.dot\n", "exactly one of 'graph'"),
    ("    running_variable: score\n", "'running_variable' and 'cutoff' go together"),
    ("    estimators: []\n", "'estimators' is empty"),
])
def test_bad_keys_name_the_analysis_and_the_key(tmp_path, change, message):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, BASE + change), "a")
    assert message in str(err.value) and str(err.value).startswith("analysis 'a'")
    assert "\n" not in str(err.value)


def test_missing_required_key(tmp_path):
    with pytest.raises(SpecError, match="key 'outcome' is required"):
        load_spec(write(tmp_path, BASE.replace("    outcome: y\n", "")), "a")


def test_treatment_equal_to_outcome(tmp_path):
    with pytest.raises(SpecError, match="treatment and outcome must differ"):
        load_spec(write(tmp_path, BASE.replace("outcome: y", "outcome: t")), "a")


def test_unknown_analysis_and_bad_yaml(tmp_path):
    with pytest.raises(SpecError, match=r"analysis 'b' not in .*found \['a'\]"):
        load_spec(write(tmp_path, BASE), "b")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_spec(write(tmp_path, "analyses:\n  a: [\n"), "a")
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "nope.yaml", "a")


def test_bad_set_syntax(tmp_path):
    with pytest.raises(SpecError, match="--set must be KEY=VALUE"):
        load_spec(write(tmp_path, BASE), "a", ["seed"])


@pytest.mark.parametrize("table", ["users; DROP TABLE users", "x' OR '1'='1", "a b", "t--"])
def test_hostile_sql_table_name_is_refused_before_any_connection(tmp_path, table):
    text = BASE.replace("data: {path: data.parquet}", f'data: {{sql: {{url: "sqlite:///w.db", table: "{table}"}}}}')
    with pytest.raises(SpecError, match="table must be a plain table name"):
        load_spec(write(tmp_path, text), "a")


def test_passwords_are_masked_in_urls():
    masked = redact_url("postgresql://alice:s3cret@db.example:5432/shop")
    assert "s3cret" not in masked and "alice" in masked
