"""End to end: a hidden confounder seen through proxies (`proxies:` in the spec, the confounder latent in
the graph) is the proxy design: no back-door set, CEVAE estimates the effect, and a graph whose proxies
do not hang off the hidden confounder is refused before any work."""

import json

import pytest

from data.proxy_dgps import PROXY_ATE, hidden_confounder
from tests.flows.test_run import mlflow_client, run, run_id_of

pytest.importorskip("jax")
pytestmark = pytest.mark.slow

GRAPH = ("digraph { z [latent=true]; z -> treated; z -> y; treated -> y; w -> treated; w -> y; "
         "z -> proxy1; z -> proxy2; z -> proxy3; }")
ANALYSIS = """
  hidden:
    data: {path: data/raw/hidden.parquet}
    treatment: treated
    outcome: y
    graph: data/graphs/hidden.dot
    proxies: [proxy1, proxy2, proxy3]
    refuters: []  # refuting refits the networks: the refuters are tested elsewhere
    estimator_options:
      cevae: {members: 2, max_epochs: 40, patience: 10}
"""


def _write(project, graph: str) -> None:
    sim = hidden_confounder(n=800, seed=5, n_proxies=3, noise=0.5)
    frame = sim.frame()
    frame["w"] = [float(i % 3) for i in range(len(frame))]  # an observed covariate, adjusted for besides z
    frame.to_parquet(project / "data/raw/hidden.parquet")
    (project / "data/graphs/hidden.dot").write_text(graph)


def test_proxies_of_a_latent_confounder_run_cevae_as_the_answer(project, capsys, prefect_server):
    _write(project, GRAPH)
    with open(project / "params.yaml", "a") as params:
        params.write(ANALYSIS)
    code, out, err = run(project, capsys, "hidden")
    assert code == 0, err
    run_id = run_id_of(out)
    result = json.loads((project / "results/hidden/estimates.json").read_text())
    assert result["selection"]["design"] == "proxy" and result["selection"]["estimators"] == ["cevae"]
    (cevae,) = result["estimates"]
    assert cevae["status"] == "ok", cevae
    assert cevae["details"]["training"]["members"] == 2
    assert result["answer"]["estimator"] == "cevae" and "proxies" in result["answer"]["why"]
    # the training curve is an MLflow step metric: one point per epoch, as in the results
    epochs = cevae["details"]["training"]["curves"]["1"]["val_loss"]
    history = mlflow_client(project).get_metric_history(run_id, "training.val_loss.cevae.member1")
    assert [m.step for m in history] == [i for i, v in enumerate(epochs) if v is not None] and len(history) > 5
    assert [m.value for m in history] == [v for v in epochs if v is not None]
    identification = json.loads((project / "results/hidden/identification.json").read_text())
    assert identification["strategy"] == "proxy" and identification["backdoor"] is None
    assert identification["proxies"] == ["proxy1", "proxy2", "proxy3"] and identification["proxy_adjustment"] == ["w"]
    # not a coverage claim (bench/results/deep-proxy.md measures the bias): the estimate is an effect
    # of the right sign and size, not the confounded difference in means (~2.7 here)
    assert 0.0 < cevae["ate"] < 2.0 * PROXY_ATE


def test_proxies_without_a_latent_parent_are_refused_by_name(project, capsys, prefect_server):
    _write(project, GRAPH.replace("z -> proxy3; ", "w -> proxy3; "))
    with open(project / "params.yaml", "a") as params:
        params.write(ANALYSIS)
    code, _, err = run(project, capsys, "hidden")
    assert code == 2, err
    line = err.strip().splitlines()[-1]
    assert "proxies ['proxy3'] have no latent parent" in line and "mark it latent" in line
