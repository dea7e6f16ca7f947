"""The simulated DGPs: their roles name real columns, and their stated truths are right."""

import numpy as np
import pytest
from scipy.special import expit

from data.dgps import DGPS, causal_data, heterogeneous_effects, instrument_unobserved_confounder, weak_overlap
from tasks.graph.model import parse_graph_text


@pytest.mark.parametrize("name", list(DGPS))
def test_roles_are_columns_graph_parses_and_draws_are_seeded(name):
    sim = DGPS[name](n=400, seed=1)
    named = [sim.roles["treatment"], sim.roles["outcome"], *sim.roles.get("confounders", []),
             *sim.roles.get("instruments", []), *sim.roles.get("mediators", [])]
    named += [sim.roles["running_variable"]] if "running_variable" in sim.roles else []
    assert set(named) <= set(sim.frame.columns) and len(sim.frame) == 400
    dag = parse_graph_text(sim.graph, name)
    observed = {n for n, d in dag.nodes(data=True) if not d["latent"]}
    assert observed == set(sim.frame.columns)
    assert sim.frame.equals(DGPS[name](n=400, seed=1).frame)
    assert causal_data(sim).n == 400 and "ate" in sim.truth


def test_heterogeneous_truth_matches_a_large_draw():
    sim = heterogeneous_effects(n=400_000, seed=2)
    effect = sim.frame.segment.map({"low": 1.0, "mid": 2.0, "high": 4.0}).to_numpy()
    treated = sim.frame.t.to_numpy() == 1
    # Monte-Carlo error of each mean is below 0.005 at this size; 0.02 leaves room for 4 sd
    assert effect.mean() == pytest.approx(sim.truth["ate"], abs=0.02)
    assert effect[treated].mean() == pytest.approx(sim.truth["att"], abs=0.02)
    assert effect[~treated].mean() == pytest.approx(sim.truth["atc"], abs=0.02)
    assert sim.truth["att"] > sim.truth["ate"] > sim.truth["atc"]


def test_weak_overlap_has_extreme_propensities_and_the_instrument_strength_moves_the_first_stage():
    w = weak_overlap(n=5000, seed=3).frame.w.to_numpy()
    e = expit(2.5 * w)
    assert np.mean((e < 0.02) | (e > 0.98)) > 0.1
    strong = instrument_unobserved_confounder(n=5000, seed=4).frame
    weak = instrument_unobserved_confounder(n=5000, seed=4, strength=0.05).frame
    jump = [f.t[f.z == 1].mean() - f.t[f.z == 0].mean() for f in (strong, weak)]
    assert jump[0] > 0.25 and abs(jump[1]) < 0.05
