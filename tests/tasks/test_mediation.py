"""Mediation: formulas against manual references and known truths, identification verdicts on
textbook graphs, one-line input errors, and (slow) interval coverage over seeded replications."""

import json

import networkx as nx
import numpy as np
import pytest
import statsmodels.api as sm
from scipy.special import expit, logit

from data.mediation_dgps import (confounded_mediator, induced_confounder_mediation, linear_mediation,
                                 sequential_mediation)
from tasks.graph import CausalGraph
from tasks.mediation import analyse_mediation, identify_mediation, mediation_metrics, plot_mediation
from tasks.mediation.dml import dml_mediation, dr_scores
from tasks.mediation.inputs import prepare_inputs
from tasks.mediation.regression import regression_mediation
from tasks.mediation.sensitivity import rho_sensitivity


def graph(edges: str, latent: tuple[str, ...] = ()) -> CausalGraph:
    dag = nx.DiGraph([tuple(e.split("->")) for e in edges.replace(" ", "").split(";") if e])
    nx.set_node_attributes(dag, False, "latent")
    for node in latent:
        dag.nodes[node]["latent"] = True
    return CausalGraph(dag, "g")


def inputs(dgp):
    return prepare_inputs(dgp.frame, treatment=dgp.treatment, outcome=dgp.outcome, mediators=dgp.mediators,
                          confounders=dgp.confounders, treatment_induced=dgp.treatment_induced)


# --- formulas --------------------------------------------------------------------------------------

def test_regression_matches_vanderweele_formulas_by_statsmodels():
    """Manual reference: two statsmodels OLS fits, VanderWeele's NDE/NIE at c = mean(C), delta method
    with HC0 covariances taken block-diagonal plus the variance of the mean of C. Point estimates
    agree exactly; SEs within 3% (the reference drops the between-model covariance, O(n^-1/2))."""
    dgp = linear_mediation(5000, seed=11, interaction=0.5)
    f = dgp.frame
    c = f[["x1", "x2", "x3"]].to_numpy()
    zm = sm.add_constant(np.column_stack([f.t, c]))
    fit_m = sm.OLS(f.m.to_numpy(), zm).fit(cov_type="HC0")
    zy = sm.add_constant(np.column_stack([f.t, f.m, f.t * f.m, c]))
    fit_y = sm.OLS(f.y.to_numpy(), zy).fit(cov_type="HC0")
    b, th = fit_m.params, fit_y.params
    cbar = c.mean(axis=0)
    nde = th[1] + th[3] * (b[0] + b[2:] @ cbar)
    nie = (th[2] + th[3]) * b[1]
    g_nde_b = np.r_[th[3], 0, th[3] * cbar]
    g_nde_t = np.r_[0, 1, 0, b[0] + b[2:] @ cbar, np.zeros(3)]
    var_nde = (g_nde_b @ fit_m.cov_params() @ g_nde_b + g_nde_t @ fit_y.cov_params() @ g_nde_t
               + (th[3] * b[2:]) @ np.cov(c.T, bias=True) @ (th[3] * b[2:]) / len(f))
    g_nie_b = np.r_[0, th[2] + th[3], 0, 0, 0]
    g_nie_t = np.r_[0, 0, b[1], b[1], np.zeros(3)]
    var_nie = g_nie_b @ fit_m.cov_params() @ g_nie_b + g_nie_t @ fit_y.cov_params() @ g_nie_t
    ours = regression_mediation(inputs(dgp))
    assert ours.nde.estimate == pytest.approx(nde, abs=1e-10)
    assert ours.nie.estimate == pytest.approx(nie, abs=1e-10)
    assert ours.total.estimate == pytest.approx(nde + nie, abs=1e-10)
    assert ours.nde.std_error == pytest.approx(np.sqrt(var_nde), rel=0.03)
    assert ours.nie.std_error == pytest.approx(np.sqrt(var_nie), rel=0.03)


def _oracle_nuisances(frame, interaction):
    """The true nuisance functions of linear_mediation (derivations in its docstring)."""
    x1, x2, x3, m = frame.x1, frame.x2, frame.x3, frame.m
    p_x = expit(0.5 * x1 - 0.5 * x2)
    mean0 = 0.5 + 0.5 * x1 + 0.3 * x3  # E[M | T=0, X]; E[M | T=1, X] = mean0 + 1
    p_mx = expit(logit(p_x) + (m - mean0 - 0.5))  # Gaussian M: the log density ratio is linear in M
    slope1 = 0.8 + interaction
    mu1_mx = 1.7 + slope1 * m + 0.5 * x1 + 0.5 * x2
    mu1_x = 1.7 + slope1 * (mean0 + 1) + 0.5 * x1 + 0.5 * x2
    mu0_x = 1 + 0.8 * mean0 + 0.5 * x1 + 0.5 * x2
    w = 1.7 + slope1 * mean0 + 0.5 * x1 + 0.5 * x2
    return [np.asarray(v, dtype=float) for v in (p_x, p_mx, mu1_x, mu0_x, mu1_mx, w)]


@pytest.mark.parametrize("broken", ["none", "outcome models", "propensities", "both"])
def test_dr_scores_are_doubly_robust_with_oracle_nuisances(broken):
    """200,000 rows, true nuisances: the scores' means hit the truth within 4 SE; replacing either the
    outcome models (by 0) or the propensities (by constants) keeps them unbiased (double robustness);
    replacing both biases the NDE by more than 4 SE (the check can fail)."""
    dgp = linear_mediation(200_000, seed=5, interaction=0.5)
    p_x, p_mx, mu1_x, mu0_x, mu1_mx, w = _oracle_nuisances(dgp.frame, 0.5)
    if broken in ("outcome models", "both"):
        mu1_x, mu0_x, mu1_mx, w = (np.zeros_like(p_x) for _ in range(4))
    if broken in ("propensities", "both"):
        # wrong constants, but p_mx / p_x keep the true density ratio of M, which the score needs
        p_x_wrong = np.full_like(p_x, 0.4)
        p_mx = expit(logit(p_x_wrong) + logit(p_mx) - logit(p_x))
        p_x = p_x_wrong
    psi_11, psi_00, psi_10 = dr_scores(dgp.frame.t.to_numpy(), dgp.frame.y.to_numpy(), p_x, p_mx, mu1_x, mu0_x,
                                       mu1_mx, w)
    n = len(psi_11)
    for name, values in (("nde", psi_10 - psi_00), ("nie", psi_11 - psi_10)):
        off = abs(values.mean() - dgp.truth[name]) / (values.std() / np.sqrt(n))
        if broken == "both" and name == "nde":
            assert off > 4, name
        elif broken != "both":
            assert off < 4, name


def test_dml_and_regression_agree_on_a_linear_design_and_dml_is_seeded():
    dgp = linear_mediation(4000, seed=2, interaction=0.5)
    data = inputs(dgp)
    reg, one, two = regression_mediation(data), dml_mediation(data, seed=7), dml_mediation(data, seed=7)
    assert one.nde.estimate == two.nde.estimate and one.nie.std_error == two.nie.std_error
    for part in ("nde", "nie", "total"):
        ours, theirs = getattr(one, part), getattr(reg, part)
        assert abs(ours.estimate - theirs.estimate) < 1.5 * ours.std_error, part
        assert ours.ci_low < dgp.truth[part] < ours.ci_high, part


def test_path_specific_effects_add_up_and_hit_the_truth():
    dgp = sequential_mediation(20_000, seed=4)
    g = graph("x1->t; x1->m1; x1->y; x2->m2; x2->y; t->m1; t->m2; m1->m2; t->y; m1->y; m2->y")
    report = analyse_mediation(dgp.frame, treatment="t", outcome="y", mediators=["m2", "m1"], graph=g, seed=3)
    assert report.mediators == ["m1", "m2"]  # the graph's order, not the listed one
    for name in ("regression", "dml"):
        outcome = report.estimators[name]
        paths = {row["via"] or "direct": row for row in outcome.paths}
        assert sum(row["estimate"] for row in outcome.paths) == pytest.approx(outcome.decomposition.total.estimate)
        for via in ("m1", "m2", "direct"):
            assert paths[via]["ci_low"] < dgp.truth[f"path.{via}"] < paths[via]["ci_high"], (name, via)


def test_interventional_effects_when_the_treatment_affects_a_mediator_outcome_confounder():
    dgp = induced_confounder_mediation(20_000, seed=8)
    g = graph("x->t; x->l; x->m; x->y; t->l; t->m; t->y; l->m; l->y; m->y")
    report = analyse_mediation(dgp.frame, treatment="t", outcome="y", mediators=["m"], graph=g, seed=0)
    assert report.identification.effects == "interventional" and report.identification.treatment_induced == ["l"]
    regression = report.estimators["regression"]
    assert regression.effects == "interventional"
    for part in ("nde", "nie"):
        effect = getattr(regression.decomposition, part)
        assert effect.ci_low < dgp.truth[part] < effect.ci_high, part
    assert report.estimators["dml"].status == "skipped" and "natural" in report.estimators["dml"].error


# --- sensitivity -----------------------------------------------------------------------------------

def test_rho_zero_is_the_product_of_coefficients():
    dgp = linear_mediation(3000, seed=1)
    f = dgp.frame
    xs = sm.add_constant(f[["t", "x1", "x2", "x3"]])
    b = sm.OLS(f.m, xs).fit().params["t"]
    g = sm.OLS(f.y, sm.add_constant(f[["t", "m", "x1", "x2", "x3"]])).fit().params["m"]
    result = rho_sensitivity(inputs(dgp))
    assert result["nie_at_rho_0"] == pytest.approx(b * g, rel=1e-9)
    assert next(row for row in result["curve"] if row["rho"] == 0.0)["nie"] == pytest.approx(b * g, rel=1e-9)


def test_rho_at_the_true_error_correlation_recovers_the_indirect_effect():
    """An unobserved mediator-outcome confounder with error correlation 0.4: the naive NIE (rho = 0) is
    off by about 0.4; NIE(rho = 0.4) is within 0.05 of the truth 0.8 at 50,000 rows (SE about 0.01)."""
    dgp = confounded_mediator(50_000, seed=3, rho=0.4)
    result = rho_sensitivity(inputs(dgp))
    assert abs(result["nie_at_rho_0"] - 0.8) > 0.3
    assert next(row for row in result["curve"] if row["rho"] == 0.4)["nie"] == pytest.approx(0.8, abs=0.05)
    assert 0.4 < result["rho_at_zero_nie"] < 0.95


# --- identification --------------------------------------------------------------------------------

def test_textbook_mediation_graph_is_identified_with_its_confounder():
    ident = identify_mediation(graph("c->t; c->m; c->y; t->m; m->y; t->y"), "t", "y", ["m"])
    assert ident.identified and ident.effects == "natural" and ident.confounders == ["c"]


def test_latent_mediator_outcome_confounder_is_not_identified():
    ident = identify_mediation(graph("c->t; c->y; t->m; m->y; t->y; u->m; u->y", latent=("u",)), "t", "y", ["m"])
    assert not ident.identified and ident.effects is None and "mediators and 'y'" in ident.reason


def test_treatment_induced_confounder_makes_natural_effects_unidentified():
    ident = identify_mediation(graph("c->t; c->y; t->l; l->m; l->y; t->m; m->y; t->y"), "t", "y", ["m"])
    assert ident.identified and ident.effects == "interventional" and ident.treatment_induced == ["l"]
    assert "NOT identified" in ident.reason and "{l}" in ident.reason


def test_latent_treatment_induced_confounder_identifies_nothing():
    ident = identify_mediation(graph("t->l; l->m; l->y; t->m; m->y", latent=("l",)), "t", "y", ["m"])
    assert not ident.identified


def test_declared_confounders_are_checked():
    g = graph("c->t; c->m; d->m; d->y; t->m; m->y; t->y")
    short = identify_mediation(g, "t", "y", ["m"], confounders=["c"])
    assert not short.identified and "{c, d} would identify" in short.reason
    assert identify_mediation(g, "t", "y", ["m"], confounders=["c", "d"]).identified
    after = identify_mediation(graph("c->t; t->k; c->y; t->m; m->y; k->y"), "t", "y", ["m"], confounders=["c", "k"])
    assert not after.identified and "affected by the treatment" in after.reason


# --- bad input -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def frame():
    return linear_mediation(300, seed=0).frame


@pytest.mark.parametrize("change, message", [
    ({"treatment": "x3", "confounders": ["x1"]}, "treatment column 'x3' must be binary (0/1)"),
    ({"mediators": ["nope"]}, "`mediators` column 'nope' is not in the data"),
    ({"mediators": []}, "`mediators` must name at least one"),
    ({"mediators": ["y"]}, "column 'y' must have one role; got both outcome and mediators"),
    ({"estimators": ["regression", "sem"]}, "`estimators` must be a non-empty list from"),
    ({"nuisance": "forest"}, "`nuisance` must be one of"),
    ({"confounders": None}, "`confounders` must be given when there is no `graph`"),
    ({"seed": -1}, "`seed` must be a non-negative integer"),
    ({"folds": 1}, "`folds` must be an integer >= 2"),
])
def test_bad_input_is_one_line_value_error(frame, change, message):
    kwargs = {"treatment": "t", "outcome": "y", "mediators": ["m"], "confounders": ["x1", "x2", "x3"], **change}
    with pytest.raises(ValueError) as caught:
        analyse_mediation(frame, **kwargs)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_missing_values_and_mediator_off_the_causal_path_are_named(frame):
    holes = frame.assign(m=frame.m.where(frame.index > 3))
    with pytest.raises(ValueError, match="column 'm' must have no missing values; got 4 missing"):
        analyse_mediation(holes, treatment="t", outcome="y", mediators=["m"], confounders=["x1"])
    with pytest.raises(ValueError, match="mediator 'x1' must be a descendant of the treatment 't'"):
        analyse_mediation(frame, treatment="t", outcome="y", mediators=["x1"],
                          graph=graph("x1->t; x1->y; t->m; m->y"))


# --- report ----------------------------------------------------------------------------------------

def test_report_json_metrics_and_plot(tmp_path):
    dgp = linear_mediation(1000, seed=9, interaction=0.5)
    report = analyse_mediation(dgp.frame, treatment="t", outcome="y", mediators=["m"], confounders=dgp.confounders,
                               seed=1)
    body = json.loads(json.dumps(report.to_json()))
    for name in ("regression", "dml"):
        for part in ("nde", "nie", "total"):
            assert set(body["estimators"][name][part]) == {"estimate", "ci_low", "ci_high"}
    assert body["identification"]["checked"] is False and body["sensitivity"]["status"] == "ok"
    assert set(mediation_metrics(report)) == {f"mediation.{p}.{e}" for p in ("nde", "nie", "total")
                                              for e in ("regression", "dml")}
    png = plot_mediation(report, tmp_path / "plots" / "mediation.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unidentified_graph_reports_no_estimates(frame):
    g = graph("x1->t; x1->y; t->m; m->y; t->y; u->m; u->y", latent=("u",))
    report = analyse_mediation(frame, treatment="t", outcome="y", mediators=["m"], graph=g)
    assert not report.identification.identified
    assert all(o.status == "skipped" and o.decomposition is None for o in report.estimators.values())


def test_categorical_confounders_enter_as_dummies(frame):
    coded = frame.assign(region=np.where(frame.x1 > 0, "north", "south"))
    report = analyse_mediation(coded, treatment="t", outcome="y", mediators=["m"], confounders=["region", "x2"],
                               categorical=["region"], estimators=["regression"])
    assert report.estimators["regression"].status == "ok"


# --- coverage (slow) -------------------------------------------------------------------------------

@pytest.mark.slow
def test_intervals_cover_the_truth():
    """200 seeded replications of 1,000 rows from linear_mediation with a T x M interaction (0.5).
    Nominal 95%; the binomial SE of a coverage share over 200 runs is 0.0154, so 3 SE below 0.95 is 0.904:
    each of NDE, NIE and total must cover in at least 90% of runs, for the regression and the
    cross-fitted DR estimator (linear/logistic nuisances, correctly specified here)."""
    hits = {(e, p): 0 for e in ("regression", "dml") for p in ("nde", "nie", "total")}
    runs = 200
    for seed in range(runs):
        dgp = linear_mediation(1000, seed=1000 + seed, interaction=0.5)
        data = inputs(dgp)
        for name, result in (("regression", regression_mediation(data)), ("dml", dml_mediation(data, seed=seed))):
            for part in ("nde", "nie", "total"):
                effect = getattr(result, part)
                hits[name, part] += effect.ci_low <= dgp.truth[part] <= effect.ci_high
    coverage = {key: count / runs for key, count in hits.items()}
    assert min(coverage.values()) >= 0.90, coverage
