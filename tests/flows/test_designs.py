"""End to end: IV and RD analyses with only their roles declared run the recommended set and say why."""

import json

import pytest

from data.dgps import instrument_unobserved_confounder, sharp_discontinuity
from tests.flows.test_run import run, run_id_of

pytestmark = pytest.mark.slow

ANALYSES = """
  iv_latent:
    data: {path: data/raw/iv_latent.parquet}
    treatment: t
    outcome: y
    graph: data/graphs/iv_latent.dot
    instruments: [z]
    refute_simulations: 2
    refuters: [data_subset]
  rd_score:
    data: {path: data/raw/rd_score.parquet}
    treatment: t
    outcome: y
    confounders: []
    running_variable: score
    cutoff: 0.0
    refute_simulations: 2
    refuters: [placebo, data_subset]
"""


def test_iv_and_rd_designs_pick_their_estimators_and_cover_the_truth(project, capsys, prefect_server):
    iv = instrument_unobserved_confounder(n=3000, seed=21)
    rd = sharp_discontinuity(n=2000, seed=22)
    iv.frame.to_parquet(project / "data/raw/iv_latent.parquet")
    rd.frame.to_parquet(project / "data/raw/rd_score.parquet")
    (project / "data/graphs/iv_latent.dot").write_text(iv.graph)
    with open(project / "params.yaml", "a") as params:
        params.write(ANALYSES)

    code, out, err = run(project, capsys, "iv_latent")
    assert code == 0, err
    run_id_of(out)
    result = json.loads((project / "results/iv_latent/estimates.json").read_text())
    assert result["selection"]["design"] == "iv" and result["selection"]["source"] == "recommended"
    assert [e["estimator"] for e in result["estimates"]] == ["iv_2sls", "dml_iv"]
    for e in result["estimates"]:
        assert e["status"] == "ok" and e["estimand"] == "late" and e["ci_low"] <= 2.0 <= e["ci_high"], e
    identification = json.loads((project / "results/iv_latent/identification.json").read_text())
    assert identification["strategy"] == "iv" and identification["backdoor"] is None
    assert "estimators recommended for the iv design" in out

    code, out, err = run(project, capsys, "rd_score")
    assert code == 0, err
    result = json.loads((project / "results/rd_score/estimates.json").read_text())
    assert result["selection"]["design"] == "rdd"
    (rdd,) = result["estimates"]
    assert rdd["estimator"] == "rdd" and rdd["estimand"] == "late at cutoff" and rdd["ci_low"] <= 2.0 <= rdd["ci_high"]
    assert rdd["details"]["density_test_p"] is not None and len(rdd["details"]["placebo_cutoffs"]) == 2
    # no overlap gate for a sharp design (no overlap by construction); a permuted treatment is no
    # longer a sharp step, so the placebo refuter is not applicable (RD's placebo is its placebo
    # cutoffs) and does not count against the estimate, while data_subset still judges it
    assert json.loads((project / "results/rd_score/overlap.json").read_text()) is None
    refuted = json.loads((project / "results/rd_score/refutation.json").read_text())["refutations"]
    placebo = next(r for r in refuted if r["refuter"] == "placebo")
    assert placebo["status"] == "not_applicable" and "placebo cutoffs" in placebo["error"]
    subset = next(r for r in refuted if r["refuter"] == "data_subset")
    survived = json.loads((project / "results/rd_score/refutation.json").read_text())["survivors"]
    assert survived == (["rdd"] if subset["passed"] else [])
