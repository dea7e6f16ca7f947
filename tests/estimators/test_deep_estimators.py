"""The deep estimators through the estimator contract: options, refusals, a covering CI, a dose-response shape."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("jax")

from data.dose_dgps import linear_dose  # noqa: E402
from data.proxy_dgps import hidden_confounder  # noqa: E402
from estimators.base import CausalData  # noqa: E402
from estimators.deep.adapters import Cevae, CfrNet, DragonNet, TarNet, VcNet  # noqa: E402


def _linear_binary(n=600, seed=0, effect=2.0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    t = (rng.random(n) < 1 / (1 + np.exp(-0.8 * x[:, 0]))).astype(float)
    y = 1 + effect * t + x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=n)
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "t": t, "y": y})
    return CausalData.from_frame(frame, treatment="t", outcome="y", adjustment=["x1", "x2", "x3"])


def test_a_misspelt_option_fails_at_construction_naming_the_accepted_ones():
    with pytest.raises(ValueError, match=r"unknown option 'memebrs'; accepted: .*members"):
        TarNet(memebrs=3)
    with pytest.raises(ValueError, match="`ipm` must be one of wasserstein, mmd; got 'sinkhorn'"):
        CfrNet(ipm="sinkhorn")
    with pytest.raises(ValueError, match="`members` must be an integer"):
        DragonNet(members=-1)


def test_cevae_refuses_without_proxies():
    estimate = Cevae(members=2, max_epochs=2).fit(_linear_binary(100)).estimate_
    assert estimate.status == "not_applicable" and "cevae needs proxies" in estimate.error


@pytest.mark.slow
def test_cevae_runs_on_declared_proxies():
    sim = hidden_confounder(n=400, seed=0, n_proxies=3)
    data = CausalData.from_frame(sim.frame(), treatment="treated", outcome="y", adjustment=[],
                                 proxies=["proxy1", "proxy2", "proxy3"])
    estimate = Cevae(members=2, max_epochs=5, seed=1).fit(data).estimate_
    assert estimate.ok and np.isfinite(estimate.value) and estimate.cate.shape == (400,)
    curves = estimate.details["training"]["curves"]
    assert list(curves) == ["0", "1"]
    assert len(curves["1"]["val_loss"]) == estimate.details["training"]["epochs_run"]


@pytest.mark.slow
def test_tarnet_ci_covers_a_linear_effect_and_predicts_new_rows():
    data = _linear_binary()
    model = TarNet(members=5, max_epochs=60, seed=3).fit(data)
    estimate = model.estimate_
    assert estimate.ok and estimate.ci_low < 2.0 < estimate.ci_high, estimate
    assert estimate.ci_high - estimate.ci_low < 1.5
    assert np.allclose(model.effect(model.features(data)), estimate.cate)  # the same state predicts new rows
    assert model.effect(data.covariates[:10]).shape == (10,)
    low, high = model.effect_interval(data.covariates[:10])
    assert (low <= high).all()
    assert "5 members" in estimate.method and len(estimate.details["member_estimates"]) == 5


def test_vcnet_curve_follows_a_straight_dose_response():
    sim = linear_dose(n=600, seed=0)
    frame = sim.frame()
    data = CausalData.from_frame(frame, treatment="dose", outcome="y", adjustment=["x1", "x2", "x3"],
                                 treatment_type="continuous")
    estimate = VcNet(members=3, max_epochs=80, seed=0).fit(data).estimate_
    assert estimate.ok, estimate.error
    curve = estimate.details["dose_response"]
    grid, mu = np.array(curve["grid"]), np.array(curve["mu"])
    assert len(grid) == 21 and (np.array(curve["low"]) <= mu).all() and (mu <= np.array(curve["high"])).all()
    assert np.corrcoef(grid, mu)[0, 1] > 0.98
    assert np.sqrt(np.mean((mu - sim.mu(grid)) ** 2)) < 0.5
    assert abs(estimate.value - 2.0) < 0.6  # the average derivative of 1 + 2t


def test_dose_estimators_refuse_a_binary_treatment():
    estimate = VcNet(members=2).fit(_linear_binary(100)).estimate_
    assert estimate.status == "not_applicable"


def _confounded(n, seed, effect=2.0):
    """Strong confounding through x1 (treated share 0.1-0.9 across x1); the truth is a constant effect."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    t = (rng.random(n) < 1 / (1 + np.exp(-1.5 * x[:, 0]))).astype(float)
    y = effect * t + 3 * x[:, 0] + 0.5 * x[:, 1] + rng.normal(size=n)
    frame = pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "x3": x[:, 2], "t": t, "y": y})
    return CausalData.from_frame(frame, treatment="t", outcome="y", adjustment=["x1", "x2", "x3"])


@pytest.mark.slow
def test_aipw_interval_covers_where_the_plugin_interval_of_a_biased_network_does_not():
    """CFRNet with an IPM weight of 100 forces the arms' representations together, so the outcome heads lose
    the confounder: the plug-in ATE is about the naive difference (5 against a true 2) while the members
    agree (a narrow, wrong interval). The AIPW correction with the logistic propensity removes the bias
    (the same `_DeepCate` code serves every binary network). 10 seeded replicates, n = 600: the AIPW
    interval covers the true ATE in >= 8 (nominal 95%: P(< 8) = 1.2% under binomial(10, 0.95)), the
    plug-in interval in <= 2 (it covered 0 of 3 on the seeds tried when this test was written)."""
    aipw, plugin = 0, 0
    for seed in range(10):
        model = CfrNet(members=3, max_epochs=10, alpha=100.0, seed=seed)
        estimate = model.fit(_confounded(600, seed)).estimate_
        assert estimate.ok and "AIPW" in estimate.method and "aipw" in estimate.details
        aipw += estimate.ci_low <= 2.0 <= estimate.ci_high
        p = estimate.details["plugin"]
        plugin += abs(p["value"] - 2.0) <= 1.959964 * p["std_error"]
    assert aipw >= 8 and plugin <= 2, (aipw, plugin)


def test_plugin_option_gives_the_members_mean_and_spread():
    estimate = TarNet(members=3, max_epochs=2, ate="plugin", seed=0).fit(_confounded(200, 0)).estimate_
    assert estimate.ok and "aipw" not in estimate.details
    assert estimate.value == pytest.approx(np.mean(estimate.details["member_estimates"]))
    assert estimate.std_error == pytest.approx(np.std(estimate.details["member_estimates"], ddof=1))
    with pytest.raises(ValueError, match="`ate` must be one of aipw, plugin; got 'dr'"):
        TarNet(ate="dr")


@pytest.mark.slow
def test_doubly_robust_band_covers_the_line_where_the_underfit_network_band_misses():
    """The straight dose-response 1 + 2t with a confounded dose; VCNet stopped after 2 epochs at a small
    learning rate is far from the line, and its members' band (the band reported before the doubly robust
    curve) covered 14%, 48% and 71% of the 21-point grid on seeds 0-2. The doubly robust curve
    (density-ratio-weighted residuals, the density network trained to its own early stop) recovers the line:
    it covered 100% on each. 3 seeded replicates: the DR band must cover >= 80% of the grid on average,
    and the network band < 60% (so the old band fails this test's first condition)."""
    dr, network = [], []
    for seed in range(3):
        sim = linear_dose(n=800, seed=seed)
        data = CausalData.from_frame(sim.frame(), treatment="dose", outcome="y", adjustment=["x1", "x2", "x3"],
                                     treatment_type="continuous")
        estimate = VcNet(members=3, max_epochs=2, learning_rate=1e-4, seed=seed).fit(data).estimate_
        curve = {k: np.array(v) for k, v in estimate.details["dose_response"].items()
                 if k in ("grid", "mu", "low", "high", "network_mu", "network_sd")}
        truth = sim.mu(curve["grid"])
        dr.append(np.mean((curve["low"] <= truth) & (truth <= curve["high"])))
        network.append(np.mean(np.abs(curve["network_mu"] - truth) <= 1.959964 * curve["network_sd"]))
    assert np.mean(dr) >= 0.8 and np.mean(network) < 0.6, (dr, network)
