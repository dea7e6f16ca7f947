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


@pytest.mark.parametrize("override, message", [
    ("estimater=ipw", "analysis 'a': unknown key 'estimater'; did you mean 'estimators'? keys: data, treatment, "),
    ("gates.min_comon_support=0.5", "analysis 'a': unknown key 'gates.min_comon_support'; did you mean "
                                    "'gates.min_common_support'? keys of 'gates': min_common_support, "),
    ("overlap={propensty_model: lightgbm}", "analysis 'a': unknown key 'overlap.propensty_model'; did you mean "
                                            "'overlap.propensity_model'? keys of 'overlap': propensity_model, trim"),
    ("colour=red", "analysis 'a': unknown key 'colour'; keys: data, treatment, outcome, "),
])
def test_unknown_keys_suggest_the_closest_and_list_the_keys(tmp_path, override, message):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, BASE), "a", [override])
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert "name" not in str(err.value).split("keys")[-1].split(", ")  # set by whyflow, not offered


def test_enum_values_are_accepted_in_any_case_and_hash_alike(tmp_path):
    shouted = ["estimand=ATT", "treatment_type=Binary", "engine=AUTO", "nuisance=LightGBM",
               "overlap={propensity_model: LightGBM, trim: Crump}"]
    quiet = ["estimand=att", "treatment_type=binary", "engine=auto", "nuisance=lightgbm",
             "overlap={propensity_model: lightgbm, trim: crump}"]
    spec = load_spec(write(tmp_path, BASE), "a", shouted)
    assert (spec.estimand, spec.treatment_type, spec.engine) == ("att", "binary", "auto")
    assert (spec.nuisance.outcome, spec.nuisance.propensity) == ("lightgbm", "lightgbm")
    assert (spec.overlap.propensity_model, spec.overlap.trim) == ("lightgbm", "crump")
    assert spec.params_sha256() == load_spec(write(tmp_path, BASE), "a", quiet).params_sha256()
    mixed = load_spec(write(tmp_path, BASE), "a", ["nuisance={outcome: Linear, propensity: LOGISTIC}"]).nuisance
    assert (mixed.outcome, mixed.propensity) == ("linear", "logistic")


def test_an_unknown_enum_value_is_still_refused_in_one_line(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, BASE), "a", ["estimand=LATE"])
    assert str(err.value) == "analysis 'a': key 'estimand': Input should be 'ate', 'att' or 'atc'; got 'LATE'"
