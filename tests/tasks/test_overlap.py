import numpy as np
import pandas as pd
import pytest

from estimators.base import CausalData
from tasks.evidence.overlap import (calibration_table, check_overlap, crump_alpha, effective_sample_size, fit_propensity,
                           overlap_failures, standardized_differences, trim_mask, variance_ratios)
from whyflow.errors import SpecError
from whyflow.spec import Gates, OverlapOptions, load_spec


def confounded(n=20000, strength=1.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.binomial(1, 1 / (1 + np.exp(-strength * x))).astype(float)
    y = x + t + rng.normal(size=n)
    return CausalData(Y=y, T=t, covariates=x[:, None], X=np.empty((n, 0)), covariate_names=["x"], x_names=[])


def test_smd_matches_the_textbook_formula():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(400, 2))
    t = np.repeat([0.0, 1.0], 200)
    W[t == 1, 0] += 0.5
    by_hand = (W[t == 1, 0].mean() - W[t == 0, 0].mean()) / np.sqrt((W[t == 1, 0].var() + W[t == 0, 0].var()) / 2)
    assert np.isclose(standardized_differences(W, t)[0], by_hand)


def test_weighting_removes_imbalance_and_support_is_reported():
    report = check_overlap(confounded())
    assert report.max_smd_before > 0.3
    assert report.max_smd_after < 0.02
    assert report.common_support > 0.99
    assert sum(report.histogram["treated"]) + sum(report.histogram["control"]) == 20000


def test_gates_name_threshold_and_value():
    report = check_overlap(confounded(strength=6.0))
    failures = dict(overlap_failures(report, Gates(min_common_support=0.999, max_smd_after_weighting=0.01)))
    assert failures["min_common_support"] == f"common support is {report.common_support:.3f}"
    assert "max |SMD| after weighting is" in failures["max_smd_after_weighting"] and "(x)" in failures["max_smd_after_weighting"]
    assert overlap_failures(check_overlap(confounded()), Gates(max_smd_after_weighting=0.05)) == []



def test_variance_ratio_and_effective_sample_size_match_a_hand_computation():
    rng = np.random.default_rng(2)
    W = rng.normal(size=(300, 2))
    t = np.repeat([1.0, 0.0], 150)
    W[t == 1, 1] *= 2.0
    w = rng.uniform(0.5, 3.0, size=300)
    treated, control = W[t == 1, 1], W[t == 0, 1]
    assert np.isclose(variance_ratios(W, t)[1], treated.var() / control.var())
    def weighted_var(x, v):
        return np.sum(v * (x - np.sum(v * x) / v.sum()) ** 2) / v.sum()
    by_hand = weighted_var(treated, w[t == 1]) / weighted_var(control, w[t == 0])
    assert np.isclose(variance_ratios(W, t, w)[1], by_hand)
    assert np.isclose(effective_sample_size(w), w.sum() ** 2 / (w**2).sum())
    assert np.isclose(effective_sample_size(np.ones(40)), 40.0)


def test_calibration_table_bins_by_quantile_and_reports_brier_and_ece():
    e = np.linspace(0.05, 0.95, 100)
    t = (np.arange(100) % 2).astype(float)
    table = calibration_table(e, t, bins=4)
    assert [b["n"] for b in table["bins"]] == [25, 25, 25, 25]
    first = table["bins"][0]
    assert np.isclose(first["predicted"], e[:25].mean()) and np.isclose(first["observed"], t[:25].mean())
    assert np.isclose(table["brier"], np.mean((e - t) ** 2))
    assert np.isclose(table["ece"], np.mean([abs(b["predicted"] - b["observed"]) for b in table["bins"]]))


def test_crump_rule_minimises_the_variance_bound_and_leaves_good_overlap_alone():
    e = np.sort(1 / (1 + np.exp(-3.0 * np.random.default_rng(4).normal(size=20000))))
    g = 1 / (e * (1 - e))
    grid = np.linspace(0.0, 0.45, 901)
    # Crump et al. (2009): the trimmed ATE's variance bound is proportional to E[g | A] / P(A).
    bound = []
    for a in grid:
        kept = g[np.searchsorted(e, a):np.searchsorted(e, 1 - a, side="right")]
        bound.append(kept.mean() / (kept.size / e.size))
    assert abs(crump_alpha(e) - grid[int(np.argmin(bound))]) < 2e-3
    assert crump_alpha(np.random.default_rng(5).uniform(0.3, 0.7, 5000)) == 0.0


def test_fixed_trimming_bounds_keep_the_middle():
    e = np.array([0.05, 0.1, 0.5, 0.9, 0.95])
    keep, bounds = trim_mask(e, (0.1, 0.9))
    assert keep.tolist() == [False, True, True, True, False] and bounds == (0.1, 0.9)
    assert trim_mask(e, "none")[0].all()


def test_trimming_is_reported_and_the_kept_rows_are_the_analysed_sample():
    data = confounded(strength=3.0)
    plain = check_overlap(data)
    fixed = check_overlap(data, options=OverlapOptions(trim=[0.1, 0.9]))
    crump = check_overlap(data, options=OverlapOptions(trim="crump"))
    e = fit_propensity(data.covariates, data.T)
    assert fixed.trimmed_units == int(np.sum((e < 0.1) | (e > 0.9))) > 0
    assert fixed.analysed_units + fixed.trimmed_units == data.n == fixed.keep.size
    assert crump.trim == "crump" and 0 < crump.trim_bounds[0] < 0.5 and crump.trimmed_units > 0
    assert plain.trimmed_units == 0 and plain.keep.all() and "keep" not in plain.to_json()
    # trimming the extreme propensities makes the weights tamer: more effective units per arm
    assert fixed.effective_sample_size["treated"] > plain.effective_sample_size["treated"]


def test_lightgbm_propensity_is_cross_fitted_and_calibrated():
    data = confounded(n=4000, strength=1.0)
    report = check_overlap(data, options=OverlapOptions(propensity_model="lightgbm"))
    assert report.propensity_model == "lightgbm"
    assert report.calibration["ece"] < 0.05  # out-of-fold scores of a smooth truth stay calibrated
    e = fit_propensity(data.covariates, data.T, "lightgbm", seed=1)
    assert np.array_equal(e, fit_propensity(data.covariates, data.T, "lightgbm", seed=1))


def test_gates_behave_as_set_on_demo_like_and_weak_overlap_data():
    from data.generate import coupon_campaign

    frame, _ = coupon_campaign(rows=6000, seed=3)
    demo = CausalData.from_frame(frame, treatment="coupon_sent", outcome="gmv",
                                 adjustment=["historical_gmv", "user_activity", "member_level", "purchase_frequency"],
                                 categorical=["member_level"])
    assert overlap_failures(check_overlap(demo), Gates()) == []  # the demo passes the default gates
    weak = check_overlap(confounded(strength=8.0))
    assert weak.common_support < 0.9
    failures = overlap_failures(weak, Gates(min_common_support=0.9))
    assert ("min_common_support", f"common support is {weak.common_support:.3f}") in failures
    relaxed = Gates(min_common_support=weak.common_support - 0.01, max_smd_after_weighting=weak.max_smd_after + 0.01)
    assert overlap_failures(weak, relaxed) == []


BASE_SPEC = """analyses:
  a:
    data: {path: d.csv}
    treatment: t
    outcome: y
    confounders: [x1, x2]
"""


@pytest.mark.parametrize("override, message", [
    ("overlap.propensity_model=forest", "key 'overlap.propensity_model'"),
    ("overlap.trim=[0.9, 0.1]", "'trim' must be 'none', 'crump' or [low, high] with 0 < low < high < 1; got [0.9, 0.1]"),
    ("overlap.trim=[0.1]", "got [0.1]"),
    ("overlap.trim=[0, 0.9]", "got [0, 0.9]"),
    ("overlap.trim=optimal", "got 'optimal'"),
    ("overlap.trimming=crump", "unknown key 'overlap.trimming'"),
    ("sensitivity.multiples=[0, 2]", "'multiples' must be numbers in (0, 100]; got [0.0, 2.0]"),
    ("sensitivity.multiples=[]", "key 'sensitivity.multiples'"),
    ("sensitivity.benchmark=[x1]", "key 'sensitivity.benchmark'"),
])
def test_bad_overlap_and_sensitivity_keys_are_one_line_spec_errors(tmp_path, override, message):
    (tmp_path / "params.yaml").write_text(BASE_SPEC)
    with pytest.raises(SpecError) as caught:
        load_spec(tmp_path / "params.yaml", "a", [override])
    assert message in str(caught.value) and str(caught.value).startswith("analysis 'a': ")
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_weak_overlap_run_stops_with_exit_3_and_a_trimmed_run_estimates_on_the_kept_rows(project, capsys,
                                                                                          prefect_server):
    import json

    import pandas as pd
    from mlflow.tracking import MlflowClient

    from flows.cli import main

    data = confounded(n=6000, strength=8.0, seed=3)
    pd.DataFrame({"t": data.T.astype(int), "y": data.Y, "x": data.covariates[:, 0]}).to_parquet(project / "data/raw/weak.parquet")
    params = project / "params.yaml"
    params.write_text(params.read_text() + """  weak:
    data: {path: data/raw/weak.parquet}
    treatment: t
    outcome: y
    confounders: [x]
    estimators: [linear_regression]
    refuters: [placebo]
    refute_simulations: 2
    gates: {min_common_support: 0.9}
""")
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")

    code = main(["run", "weak", "--params", str(params)])
    out, err = capsys.readouterr()
    assert code == 3, err
    assert "whyflow: error: overlap gate failed: gates.min_common_support = 0.9; common support is" in err
    failed = client.get_run(out.strip().splitlines()[-1].split("=")[1])
    assert failed.info.status == "FAILED" and "gates.min_common_support = 0.9" in failed.data.tags["whyflow.failure"]
    assert failed.data.metrics["overlap.common_support"] < 0.9

    code = main(["run", "weak", "--params", str(params), "--update-results", "--set", "gates.min_common_support=0.5",
                 "--set", "gates.max_smd_after_weighting=1.0", "--set", "overlap.trim=[0.1, 0.9]"])
    out, err = capsys.readouterr()
    assert code == 0, err
    overlap = json.loads((project / "results/weak/overlap.json").read_text())
    [estimate] = json.loads((project / "results/weak/estimates.json").read_text())["estimates"]
    assert overlap["trimmed_units"] > 0 and estimate["n"] == overlap["analysed_units"] == 6000 - overlap["trimmed_units"]
    assert "trimmed" in out


def test_common_support_counts_the_units_the_estimand_is_about():
    # A LaLonde-like design: a few treated units, and a large control pool of which most are unlike them.
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0.0, 0.5, 400), rng.normal(-2.0, 1.5, 8000)])
    t = np.concatenate([np.ones(400), np.zeros(8000)])
    data = CausalData(Y=x + t, T=t, covariates=x[:, None], X=np.empty((x.size, 0)), covariate_names=["x"], x_names=[])
    e = fit_propensity(data.covariates, t)
    e1, e0 = e[t == 1], e[t == 0]
    by_hand = {"att": np.mean((e1 >= e0.min()) & (e1 <= e0.max())),
               "atc": np.mean((e0 >= e1.min()) & (e0 <= e1.max())),
               "ate": np.mean((e >= max(e1.min(), e0.min())) & (e <= min(e1.max(), e0.max())))}
    shares = {estimand: check_overlap(data, estimand).common_support for estimand in by_hand}
    assert shares == pytest.approx(by_hand)
    assert shares["att"] > 0.95 > shares["ate"]  # every treated unit has controls near it; many controls have no treated


def test_a_default_gate_warns_with_a_computed_remedy_and_a_declared_one_stops(tmp_path):
    """Weak overlap: undeclared gates become warnings naming the gate, its value and Crump trimming's
    effect (computed, not guessed); the same gate declared in the spec stops the run."""
    from tasks.evidence.overlap import judge_overlap
    from whyflow.spec import AnalysisSpec

    data = confounded(n=4000, strength=8.0, seed=5)
    report = check_overlap(data)
    quiet = AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.csv"}, treatment="t", outcome="y",
                         confounders=["x"])
    stops, warned = judge_overlap(report, data, quiet)
    assert stops == [] and len(warned) == 2
    trimmed = check_overlap(data, options=OverlapOptions(trim="crump"))
    assert warned[0].startswith("gates.min_common_support = 0.9 (default, not declared: a warning); common support is")
    assert (f"remedy: overlap.trim: crump keeps {trimmed.analysed_units / data.n:.0%} of units and brings max |SMD| "
            f"to {trimmed.max_smd_after:.2f}") in warned[0]
    declared = quiet.model_copy(update={"gates": Gates(min_common_support=0.9)})
    stops, warned = judge_overlap(report, data, declared)
    assert stops == [f"gates.min_common_support = 0.9; common support is {report.common_support:.3f}"]
    assert len(warned) == 1 and warned[0].startswith("gates.max_smd_after_weighting = 0.1 (default")


def test_overlap_is_judged_within_the_levels_of_a_categorical_confounder():
    """A 300-level fixed effect where a third of the levels hold one arm only: those units carry no
    weight in a within-level estimator, so common support is judged without them (and reported)."""
    rng = np.random.default_rng(2)
    n, levels = 12000, 300  # 40 units a level: a mixed level (share 0.3-0.7) is single-arm with p < 1e-6
    level = rng.integers(0, levels, n)
    share = np.where(level < 50, 0.0, np.where(level < 100, 1.0, rng.uniform(0.3, 0.7, levels)[level]))
    t = rng.binomial(1, share).astype(float)
    y = 0.01 * level + 2.0 * t + rng.normal(size=n)
    frame = pd.DataFrame({"t": t, "y": y, "g": level.astype(str)})
    data = CausalData.from_frame(frame, treatment="t", outcome="y", adjustment=["g"], categorical=["g"])
    report = check_overlap(data)
    assert report.single_arm_strata["g"]["levels"] == 100 and report.single_arm_strata["g"]["of_levels"] == 300
    in_single = int((level < 100).sum())
    assert report.single_arm_strata["g"]["units"] == in_single and report.comparable_units == n - in_single
    assert report.common_support > 0.95
    naive_support = float(np.mean(~np.isin(level, np.arange(100))))  # what counting every unit would give
    assert naive_support < 0.75
