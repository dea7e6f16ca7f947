"""Where a dose-response curve is extrapolation: the density network's off-support share per dose is high
when the covariates nearly determine the dose (the VCNet simulation) and low when the dose varies given
them (a Gaussian dose); the run warns on the first and stays quiet on the second. The doubly robust band
also spans the network's own curve, so the size of the DR correction widens it."""

import numpy as np
import pytest

pytest.importorskip("jax")

from data.dose_dgps import linear_dose, vcnet_style  # noqa: E402
from estimators.base import CausalData, Estimate  # noqa: E402
from tasks.estimate.answer import EXTRAPOLATION_SHARE, extrapolation_warning  # noqa: E402


def _share(sim, seed):
    from estimators.deep.dose import fit_density_ratio
    from estimators.deep.train import TrainSettings

    x_std = (sim.x - sim.x.mean(axis=0)) / sim.x.std(axis=0)
    low, high = sim.t.min(), sim.t.max()
    grid = sim.grid()
    _, summary = fit_density_ratio(x_std, (sim.t - low) / (high - low), seed, TrainSettings(max_epochs=100),
                                   grid_unit=(grid - low) / (high - low))
    return np.array(summary["off_support_share"])


def test_off_support_share_separates_a_nearly_determined_dose_from_a_varying_one():
    # seeds 0-1 of each, n = 800: the VCNet dose (logit noise SD 0.5 against covariate effects of several
    # units) left 0.30-0.70 of the units off support per dose (median 0.40 on seed 0); the Gaussian dose <= 0.05
    for seed in range(2):
        determined = _share(vcnet_style(n=800, seed=seed), seed)
        varying = _share(linear_dose(n=800, seed=seed), seed)
        assert len(determined) == len(varying) == 21
        assert np.median(determined) > 1.5 * EXTRAPOLATION_SHARE, determined
        assert np.median(varying) < EXTRAPOLATION_SHARE / 2, varying


def _dose_estimate(shares):
    curve = {"grid": [0.0, 0.5, 1.0], "mu": [0.0] * 3, "low": [-1.0] * 3, "high": [1.0] * 3,
             "off_support_share": shares}
    return Estimate(estimator="vcnet", estimand="ate", value=1.0, details={"dose_response": curve})


def test_extrapolation_warning_names_the_curve_only_when_most_of_it_is_off_support():
    warning = extrapolation_warning([_dose_estimate([0.3, 0.45, 0.6])])
    assert warning is not None and "vcnet 45%" in warning
    assert extrapolation_warning([_dose_estimate([0.0, 0.05, 0.3])]) is None
    # a failed estimate or one without the share (curve: network) says nothing
    failed = Estimate(estimator="vcnet", estimand="ate", status="failed", details=_dose_estimate([0.9] * 3).details)
    assert extrapolation_warning([failed, Estimate(estimator="ols", estimand="ate", value=1.0)]) is None


@pytest.mark.slow
def test_doubly_robust_band_spans_the_network_curve_and_reports_the_share():
    from estimators.deep.adapters import VcNet

    sim = vcnet_style(n=600, seed=3)
    columns = [f"x{i + 1}" for i in range(6)]
    data = CausalData.from_frame(sim.frame(), treatment="dose", outcome="y", adjustment=columns,
                                 treatment_type="continuous")
    estimate = VcNet(members=3, max_epochs=40, seed=3).fit(data).estimate_
    assert estimate.ok, estimate.error
    curve = {k: np.array(v) for k, v in estimate.details["dose_response"].items()
             if k in ("mu", "low", "high", "network_mu", "correction", "off_support_share")}
    assert np.allclose(curve["correction"], np.abs(curve["mu"] - curve["network_mu"]))
    assert ((curve["low"] <= curve["network_mu"]) & (curve["network_mu"] <= curve["high"])).all()
    assert len(curve["off_support_share"]) == 21 and np.median(curve["off_support_share"]) > EXTRAPOLATION_SHARE
    assert extrapolation_warning([estimate]) is not None
