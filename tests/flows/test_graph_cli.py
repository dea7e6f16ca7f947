"""`whyflow graph ...` through flows.cli.main: output, JSON shapes and exit codes (2 for bad input)."""

import json

import numpy as np
import pandas as pd
import pytest

from data.generate import coupon_campaign
from flows.cli import main
from tests.conftest import REPO, git

DEMO = str(REPO / "data/graphs/coupon_618.dot")
LATENT = str(REPO / "data/graphs/coupon_618_latent.dot")
IV_GRAPH = "digraph { u [latent=true]; u -> t; u -> y; x -> t; x -> y; z -> t; zw -> t; t -> y; }"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["graph", *args])
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("whyflow: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("data") / "coupon.parquet"
    coupon_campaign(rows=4000, seed=5)[0].to_parquet(path)
    return str(path)


@pytest.fixture
def iv_files(tmp_path) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    u, x, z, zw = rng.normal(size=(4, 3000))
    t = x + u + z + 0.01 * zw + rng.normal(size=3000)
    pd.DataFrame({"x": x, "z": z, "zw": zw, "t": t, "y": 2 * t + x + u + rng.normal(size=3000)}).to_csv(
        tmp_path / "iv.csv", index=False)
    (tmp_path / "iv.dot").write_text(IV_GRAPH)
    return str(tmp_path / "iv.dot"), str(tmp_path / "iv.csv")


def test_show_lists_latent_nodes_edges_and_the_version(capsys):
    from tasks.graph.model import read_graph_file

    code, out, _ = run(capsys, "show", LATENT)
    assert code == 0 and "marketing_sensitivity  [latent]" in out and "coupon_sent -> gmv" in out
    assert read_graph_file(LATENT).sha256 in out
    code, out, _ = run(capsys, "show", LATENT, "--json")
    shown = json.loads(out)
    assert shown["latent"] == ["marketing_sensitivity"] and ["coupon_sent", "gmv"] in shown["edges"]


def test_check_passes_the_demo_graph_against_its_data(capsys, demo_data):
    code, out, _ = run(capsys, "check", DEMO, "--data", demo_data, "--treatment", "coupon_sent", "--outcome", "gmv")
    assert code == 0 and out.startswith("ok: ") and "observed nodes are columns" in out


def test_identify_json_is_the_design_contract(capsys):
    code, out, _ = run(capsys, "identify", DEMO, "--treatment", "coupon_sent", "--outcome", "gmv", "--json")
    report = json.loads(out)
    assert code == 0 and list(report) == ["backdoor", "frontdoor", "instruments", "seconds"]
    assert report["backdoor"] == {"minimal": ["historical_gmv", "member_level", "purchase_frequency", "user_activity"],
                                  "all_observed": ["historical_gmv", "member_level", "purchase_frequency",
                                                   "user_activity"]}
    assert report["frontdoor"] is None and report["instruments"] == [] and report["seconds"] >= 0


def test_identify_names_the_latent_confounder_and_what_remains(capsys, iv_files):
    code, out, _ = run(capsys, "identify", LATENT, "--treatment", "coupon_sent", "--outcome", "gmv")
    assert code == 0 and "back-door: not identified" in out
    assert "latent marketing_sensitivity blocks the back door; strategies that remain: none" in out
    code, out, _ = run(capsys, "identify", iv_files[0], "--treatment", "t", "--outcome", "y")
    assert "strategies that remain: instrumental variables" in out and "exclusion:" in out


def test_identify_without_data_does_not_call_a_typo_an_instrument(capsys, tmp_path):
    graph = tmp_path / "typo.dot"
    graph.write_text("digraph { region -> spend; regoin -> got_promo; age -> got_promo; age -> spend; "
                     "got_promo -> spend; distance -> got_promo; }")
    code, out, err = run(capsys, "identify", str(graph), "--treatment", "got_promo", "--outcome", "spend", "--json")
    assert code == 0 and json.loads(out)["instruments"] == ["distance"]
    assert err.strip() == ("warning: graph node 'regoin' looks like a typo of 'region'; not reported as an instrument "
                           "(rename it, or check the nodes against data: whyflow graph check FILE --data DATA)")
    code, out, _ = run(capsys, "ivs", str(graph), "--treatment", "got_promo", "--outcome", "spend")
    assert code == 0 and "regoin" not in out and out.startswith("distance")


def test_diff_between_files_and_git_revisions(capsys, tmp_path):
    code, out, _ = run(capsys, "diff", DEMO, LATENT)
    assert code == 0 and "+ node marketing_sensitivity [latent]" in out and "+ marketing_sensitivity -> gmv" in out
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "g.dot").write_text("digraph { x -> t; x -> y; t -> y; }")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    (repo / "g.dot").write_text("digraph { x [latent=true]; x -> t; x -> y; t -> y; }")
    for args in ([str(repo / "g.dot"), "--rev", "HEAD"], [f"{repo / 'g.dot'}@HEAD"]):
        code, out, _ = run(capsys, "diff", *args)
        assert code == 0 and "~ x became latent" in out, args
    code, out, _ = run(capsys, "diff", f"{repo / 'g.dot'}@HEAD", str(repo / "g.dot"), "--json")
    assert json.loads(out)["became_latent"] == ["x"]


def test_render_writes_a_png(capsys, tmp_path):
    code, out, _ = run(capsys, "render", LATENT, "-o", str(tmp_path / "g.png"), "--treatment", "coupon_sent",
                       "--outcome", "gmv")
    assert code == 0 and (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG") and "wrote " in out


def test_ivs_rank_by_first_stage_f_and_flag_weak_ones(capsys, iv_files):
    graph, data = iv_files
    code, out, _ = run(capsys, "ivs", graph, "--treatment", "t", "--outcome", "y")
    assert code == 0 and out.splitlines()[:2] == ["z", "zw"]
    code, out, _ = run(capsys, "ivs", graph, "--treatment", "t", "--outcome", "y", "--data", data)
    rows = out.splitlines()
    assert rows[1].startswith("z ") and rows[2].startswith("zw ") and rows[2].endswith("WEAK (F < 10)")
    code, out, _ = run(capsys, "ivs", graph, "--treatment", "t", "--outcome", "y", "--data", data, "--json")
    assert [r["name"] for r in json.loads(out)["instruments"]] == ["z", "zw"]


def test_test_reports_the_share_violated_and_random_graphs(capsys, demo_data):
    code, out, _ = run(capsys, "test", DEMO, "--data", demo_data, "--random-graphs", "20")
    summary = out.splitlines()[-1]
    assert code == 0 and summary.startswith("0 of 2 implied independences violated at alpha 0.05")
    assert "20 random graphs of the same size" in summary and "4,000 of 4,000 rows" in summary
    code, out, _ = run(capsys, "test", DEMO, "--data", demo_data, "--random-graphs", "5", "--json")
    assert json.loads(out)["implied"] == 2


def test_suggest_prints_a_diff_against_the_graph(capsys, iv_files):
    graph, data = iv_files
    code, out, _ = run(capsys, "suggest", graph, "--data", data)
    assert code == 0 and "advisory only" in out and "- zw -> t" in out


@pytest.mark.parametrize("text, message", [
    ("digraph { t -> y; y -> x; x -> t; }", "has a cycle: "),
    ("digraph { t -> y; y -> y; }", "has a self-loop on 'y'"),
    ("digraph { t -> y; t -> y; }", "lists the edge t -> y more than once"),
    ("digraph { t [colour=red]; t -> y; }", "unknown attribute(s) ['colour']"),
    ("digraph {\n t -> y;\n x -> ;\n}", "is not valid DOT at line 3, column 4"),
])
def test_bad_graphs_exit_2_with_one_line(capsys, tmp_path, text, message):
    (tmp_path / "g.dot").write_text(text)
    for command in (["check"], ["show"], ["identify", "--treatment", "t", "--outcome", "y"]):
        code, _, err = run(capsys, command[0], str(tmp_path / "g.dot"), *command[1:])
        assert code == 2 and message in error_line(err), command


def test_bad_gml_reports_the_line(capsys, tmp_path):
    (tmp_path / "g.gml").write_text('graph [\n directed 1\n node [ id 0 label "t" ]\n edge [ source 0 \n')
    code, _, err = run(capsys, "check", str(tmp_path / "g.gml"))
    assert code == 2 and "is not valid GML at line 5" in error_line(err)


@pytest.mark.parametrize("args, message", [
    (["identify", DEMO, "--treatment", "coupon", "--outcome", "gmv"], "has no node for the treatment 'coupon'"),
    (["ivs", DEMO, "--treatment", "coupon_sent", "--outcome", "revenue"], "has no node for the outcome 'revenue'"),
    (["identify", DEMO, "--treatment", "gmv", "--outcome", "gmv"], "treatment and outcome must differ"),
    (["check", "absent.dot"], "graph file 'absent.dot' not found"),
    (["test", DEMO, "--data", "absent.parquet"], "data file 'absent.parquet' not found"),
    (["test", DEMO, "--data", "data.xlsx"], "must end in .parquet or .csv"),
    (["diff", DEMO], "graph diff needs two versions"),
    (["render", DEMO, "-o", "g.gif"], "must end in .png, .svg, .pdf"),
])
def test_bad_arguments_exit_2(capsys, args, message):
    code, _, err = run(capsys, *args)
    assert code == 2 and message in error_line(err)


def test_graph_node_missing_from_the_data_exits_2(capsys, tmp_path, demo_data):
    (tmp_path / "g.dot").write_text("digraph { loyalty -> coupon_sent; loyalty -> gmv; coupon_sent -> gmv; }")
    for command in ("check", "test", "suggest"):
        code, _, err = run(capsys, command, str(tmp_path / "g.dot"), "--data", demo_data)
        assert code == 2 and "node(s) ['loyalty'] are not columns of the data and not marked latent" in error_line(err)


def test_missing_required_option_is_an_argparse_error():
    with pytest.raises(SystemExit) as stop:
        main(["graph", "identify", DEMO, "--treatment", "coupon_sent"])
    assert stop.value.code == 2
