"""A streamed analysis through the Prefect flow: same MLflow tags and metric keys as in memory,
the data md5 is the dataset's DVC directory hash, and an over-budget non-streaming request stops."""

from __future__ import annotations

import pytest

from data.generate_large import write_large


def _add_analysis(project, name: str, folder: str, extra: str = "") -> None:
    text = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(text + f"""  {name}:
    data: {{path: data/large/{folder}}}
    treatment: coupon_sent
    outcome: gmv
    graph: data/graphs/coupon_618.dot
    effect_modifiers: [member_level]
    segments: [member_level]
    seed: 42
{extra}""")


@pytest.mark.slow
def test_streamed_run_logs_the_same_keys(project, prefect_server, monkeypatch):
    from flows.analysis import analysis
    from tasks.record import tracking
    from tasks.data.snapshot import dataset_md5
    from whyflow import constants as C

    folder = write_large(6000, project / "data" / "large", chunk_rows=2000, seed=21)
    _add_analysis(project, "big", folder.name, "    engine: stream\n    chunk_rows: 1500\n    decision: {cost: 50}\n")
    monkeypatch.chdir(project)
    summary = analysis(analysis="big", params_file=str(project / "params.yaml"))
    run = tracking.client(project).get_run(summary["run_id"])
    expected_md5 = dataset_md5(sorted(folder.glob("*.parquet")), folder)[0]
    assert run.data.tags[C.TAG_DATA_MD5] == expected_md5
    assert set(C.VERSION_TAGS.values()) <= set(run.data.tags)
    truth = summary["results"]["truth"]["ate"]
    for name in ("stream_linear_regression", "stream_linear_dml", "stream_aipw"):
        low, high = run.data.metrics[f"ate_ci_low.{name}"], run.data.metrics[f"ate_ci_high.{name}"]
        assert low < run.data.metrics[f"ate.{name}"] < high
        assert low - 3 * (high - low) < truth < high + 3 * (high - low)  # one seed: a loose sanity band
    for key in ("overlap.common_support", "balance.max_smd_before", "balance.max_smd_after", "quality.rows"):
        assert key in run.data.metrics
    assert run.data.metrics["quality.rows"] == 6000
    assert summary["results"]["scale"]["engine"] == "stream"
    segments = summary["results"]["cate_by_segment"]["stream_linear_dml"]["member_level"]
    assert [row["segment"] for row in segments] == ["SVIP", "VIP", "new", "regular"]
    # refutation and sensitivity streamed into the same records as an in-memory run
    for name in ("stream_linear_regression", "stream_linear_dml", "stream_aipw"):
        assert run.data.metrics[f"refute_passed.placebo.{name}"] == 1.0
        assert run.data.metrics[f"refute_passed.data_subset.{name}"] == 1.0
        assert 0 < run.data.metrics[f"sensitivity.rv_q1.{name}"] < 1
    refutations = {(r["refuter"], r["estimator"]): r for r in summary["results"]["refutations"]}
    plasmode = refutations[("plasmode", "stream_aipw")]  # on a seeded in-memory subsample (tasks/scale/bias_sample.py)
    assert plasmode["verdict"] in ("pass", "fail") and plasmode["details"]["subsample_rows"] == 6000
    assert plasmode["details"]["estimator_refitted"] == "aipw"
    assert refutations[("random_common_cause", "stream_aipw")]["verdict"] == "not_applicable"
    assert summary["results"]["sensitivity"]["ols"]["benchmark"]
    decision = summary["results"]["decision"]  # a rule by member level from the streamed DR scores
    assert decision["policy"]["feature"] == "member_level" and "decision.value" in run.data.metrics


def test_over_budget_non_streaming_estimator_exits_2_before_the_flow(project, monkeypatch, capsys):
    from flows.cli import main

    folder = write_large(3000, project / "data" / "large", chunk_rows=1000, seed=22)
    _add_analysis(project, "big", folder.name, "    memory_budget_gb: 0.000001\n    estimators: [linear_dml]\n")
    monkeypatch.chdir(project)
    assert main(["run", "big", "--params", str(project / "params.yaml")]) == 2
    message = capsys.readouterr().err.strip()
    assert "estimator(s) ['linear_dml'] cannot stream" in message and "stream_linear_dml" in message
    assert len(message.splitlines()) == 1

