"""The dose-response networks (continuous treatment) as registry estimators: DRNet and VCNet.

The curve (`details["dose_response"]`: grid, mu, low, high) is by default doubly robust
(`curve: doubly_robust`): Kennedy et al. (2017)'s pseudo-outcome from the network's out-of-bag
predictions and a mixture-density-network density ratio, smoothed by local linear regression, with a
band that adds the members' variance of the network curve to the local linear sandwich and is widened by
the size of the DR correction over the share of units on support (dose.py); `off_support_share` says, per
dose, which share of the units could hardly have received it, i.e. how much of mu(t) is the network's
extrapolation.
`curve: network` reports the network's plug-in curve with the members' band, which measures variance
only and covered the true curve at 43-60% of the grid on the VCNet simulation (bench/results/deep-dose.md).
The grid runs between the treatment's 5% and 95% quantiles: outside them the data say little. The value
is the network's average derivative E[d mu(T, X) / dT] with the members' spread as its standard error.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from estimators.base import CausalData, Fit
from estimators.deep.estimator import (ENSEMBLE, DeepEstimator, DeepOptions, members_for, settings_of, spread,
                                       training_details)
from estimators.options import choice, integer, number
from estimators.registry import register

__all__ = ["DrNet", "VcNet", "DoseOptions"]


class _DeepDose(DeepEstimator):
    """Continuous treatment: mu(t) on a grid with a band; value = average derivative."""

    estimands = ("ate",)
    treatment_types = ("continuous",)
    _inference_fields = ("grid_points", "curve")

    def _train(self, x, data, seed):
        raise NotImplementedError

    def _fit(self, data: CausalData) -> Fit:
        network_seed, density_seed = np.random.SeedSequence(self.seed).spawn(2)
        x = self.features(data)
        self.fit_ = self._train(x, data, network_seed)
        low, high = np.quantile(data.T, [0.05, 0.95])
        grid = np.linspace(low, high, self.options.grid_points)
        slopes = self.fit_.average_derivative(x, data.T)
        m = slopes.size
        training = ENSEMBLE.format(m=m, strata="") if m > 1 else "one network on a random 70/30 split"
        details = {"network": self._network_options(), "members": m, "paper": self.paper,
                   "training": training_details(self.fit_.ensemble), "member_estimates": [float(v) for v in slopes]}
        if self.options.curve == "network":
            details["dose_response"] = {**self.fit_.dose_response(x, grid), "kind": "network"}
            band = "curve = the network's, band = members' mean +- 1.96 SD"
        else:
            from estimators.deep.dose import fit_density_ratio
            from estimators.deep.train import TrainSettings

            t_low, t_high = self.fit_.t_range
            x_std = (x - self.fit_.x_scale[0]) / self.fit_.x_scale[1]
            # the density network trains with the core's defaults (not the outcome network's options)
            ratio, density = fit_density_ratio(x_std, (data.T - t_low) / (t_high - t_low), density_seed,
                                               TrainSettings(), grid_unit=(grid - t_low) / (t_high - t_low))
            off_support = density.pop("off_support_share")
            curve = self.fit_.doubly_robust(x, data.T, data.Y, ratio, grid, seed=self.seed, off_support=off_support)
            details["dose_response"] = {**curve, "kind": "doubly_robust", "density": density,
                                        "off_support_share": off_support}
            band = ("curve = doubly robust (Kennedy et al. 2017 pseudo-outcome, local linear, bandwidth "
                    f"{curve['bandwidth']:.3g}), band = sandwich + members' variance, widened by the DR "
                    "correction's size over the share of units on support")
        method = (f"{self.summary}; value = average derivative E[d mu(T, X)/dT] (outcome units per unit of "
                  f"treatment), SE = members' spread; {training}; {band}")
        return Fit(value=float(slopes.mean()), std_error=spread(slopes), method=method, details=details)


class DoseOptions(DeepOptions):
    grid_points: Annotated[int, integer(2, 1000)] = Field(21, description="doses in the reported curve, evenly "
                                                          "spaced between the treatment's 5% and 95% quantiles")
    curve: Annotated[str, choice("doubly_robust", "network")] = Field(
        "doubly_robust", description="reported curve and band: doubly_robust (DR pseudo-outcome, sandwich + "
        "members' band) or network (plug-in curve, members' band)")


@register
class DrNet(_DeepDose):
    name = "drnet"
    summary = "DRNet: dose-response network, one head per stratum of the dose"
    paper = "Schwab, Linhardt, Bauer, Buhmann & Karlen (2020)"

    class Options(DoseOptions):
        n_strata: Annotated[int, integer(1, 50)] = Field(5, description="heads, one per equal-width dose stratum")

    def _train(self, x, data, seed):
        from estimators.deep.drnet import fit_drnet

        return fit_drnet(x, data.T, data.Y, n_members=members_for(self.options, data.n), seed=seed,
                         settings=settings_of(self.options), n_strata=self.options.n_strata)


@register
class VcNet(_DeepDose):
    name = "vcnet"
    summary = "VCNet: varying-coefficient network with functional targeted regularisation"
    paper = "Nie, Ye, Liu & Nicolae (2021)"

    class Options(DoseOptions):
        # 1e-3 left the curve flattened towards its middle (MISE 0.23-0.25 vs 0.09-0.18 at 1e-2 on
        # simulation seeds 101-103, which the bench does not use)
        learning_rate: Annotated[float, number(0.0, 1.0)] = Field(1e-2, description="Adam learning rate")
        alpha: Annotated[float, number(0.0, 1e3, open_low=False)] = Field(0.5, description="weight of the "
                                                                          "conditional density loss")
        beta: Annotated[float, number(0.0, 1e3, open_low=False)] = Field(1.0, description="weight of the targeted "
                                                                         "regularisation")

    def _train(self, x, data, seed):
        from estimators.deep.vcnet import fit_vcnet

        return fit_vcnet(x, data.T, data.Y, n_members=members_for(self.options, data.n), seed=seed,
                         settings=settings_of(self.options), alpha=self.options.alpha, beta=self.options.beta)
