"""The `proxies` key: bad values are one-line spec errors naming the key; proxies the graph does not
hang off a latent confounder are refused at identification, naming them."""

from __future__ import annotations

import pytest

from tasks.graph.model import load_graph
from tasks.identify.effect import identify_effect
from whyflow.errors import IdentificationError, SpecError
from whyflow.spec import load_spec

BASE = """analyses:
  a:
    data: {path: x.parquet}
    treatment: t
    outcome: y
    graph: g.dot
"""


@pytest.mark.parametrize("value, message", [
    ("[t, p1]", "'proxies' must not name the treatment, outcome or an instrument; got ['t']"),
    ("[p1, p1]", "'proxies' lists a column twice: ['p1', 'p1']"),
    ("p1", "key 'proxies': Input should be a valid list"),
])
def test_bad_proxies_are_one_line_errors(tmp_path, value, message):
    (tmp_path / "params.yaml").write_text(BASE + f"    proxies: {value}\n")
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "params.yaml", "a")
    text = str(caught.value)
    assert text.startswith("analysis 'a': ") and message in text and len(text.splitlines()) == 1


@pytest.mark.parametrize("graph, message", [
    ("digraph { u [latent=true]; u -> t; u -> y; t -> y; u -> p1; }", "proxies ['p2'] are not nodes of graph"),
    ("digraph { u [latent=true]; u -> t; u -> y; t -> y; u -> p1; w -> p2; }",
     "proxies ['p2'] have no latent parent that causes both 't' and 'y'"),
])
def test_proxies_the_graph_does_not_support_are_refused_by_name(tmp_path, graph, message):
    (tmp_path / "g.dot").write_text(graph)
    (tmp_path / "params.yaml").write_text(BASE + "    proxies: [p1, p2]\n")
    spec = load_spec(tmp_path / "params.yaml", "a")
    with pytest.raises(IdentificationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        identify_effect(load_graph(spec), spec)


def test_proxies_of_a_latent_confounder_identify_the_proxy_design(tmp_path):
    (tmp_path / "g.dot").write_text("digraph { u [latent=true]; u -> t; u -> y; t -> y; w -> t; w -> y; "
                                    "u -> p1; u -> p2; }")
    (tmp_path / "params.yaml").write_text(BASE + "    proxies: [p1, p2]\n")
    spec = load_spec(tmp_path / "params.yaml", "a")
    found = identify_effect(load_graph(spec), spec)
    assert found.strategy == "proxy" and found.backdoor is None and found.proxy_adjustment == ["w"]
