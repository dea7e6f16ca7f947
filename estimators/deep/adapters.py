"""The binary-treatment networks as registry estimators: thin adapters from CausalData to the networks'
numpy API (the dose-response ones are in dose_adapters.py and registered from here).

Nothing heavy is imported here: JAX loads when an estimator fits, and without the `deep` extra the
estimators report not_applicable with the install command. Every network takes the whole adjustment
matrix (`data.covariates`) as input, and `effect(X)` predicts the CATE at new rows of it
(`features(data)` gives that matrix), as the other CATE estimators do; a fitted estimator pickles, so
a generic model wrapper can call them. Training: an ensemble of M members (`members: 0` = 10 up to
20,000 rows, one network above), each on a bootstrap resample of the rows stratified by arm, from its
own seed, early-stopped on its out-of-bag rows; the CATE is the members' mean.

The average effect (`ate: aipw`, the default except for CEVAE): the AIPW estimate with the members'
out-of-bag outcome predictions and a propensity (DragonNet's own head; DCN-PD's propensity network;
a logistic regression for TARNet and CFRNet), and its influence-function standard error (inference.py
says why). `ate: plugin` is the members' mean of the averaged CATE with their standard deviation as
standard error, which measures variance only: it covered the sample ATE 70-74% of the time for TARNet
and DCN-PD on IHDP (bench/results/deep-ihdp.md). Coverage is measured there, not assumed.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import Field

from estimators.base import CausalData, Fit, NotApplicable
from estimators.deep.dose_adapters import DrNet, VcNet
from estimators.deep.estimator import (ENSEMBLE, DeepEstimator, DeepOptions, members_for, settings_of, spread,
                                       training_details)
from estimators.econml_common import estimand_rows
from estimators.options import choice, integer, number
from estimators.registry import register

__all__ = ["TarNet", "CfrNet", "DragonNet", "DcnPd", "DrNet", "VcNet", "Cevae", "DeepOptions", "CateOptions"]

CLIP = 0.01  # propensities kept in [0.01, 0.99] inside the AIPW score


class CateOptions(DeepOptions):
    ate: Annotated[str, choice("aipw", "plugin")] = Field("aipw", description="average effect and its interval: "
                                                          "aipw (doubly robust, influence-function SE) or plugin "
                                                          "(members' mean and spread)")


class _DeepCate(DeepEstimator):
    """Binary treatment, a CATE per row; ATE/ATT/ATC average it over the estimand's rows."""

    gives_cate = True
    Options = CateOptions
    _inference_fields = ("ate",)
    propensity_source = "a logistic regression on the adjustment matrix"

    def _train(self, x: np.ndarray, data: CausalData):
        raise NotImplementedError

    def _inputs(self, data: CausalData) -> np.ndarray:
        return self.features(data)

    def _fit(self, data: CausalData) -> Fit:
        x = self._inputs(data)
        self.fit_ = self._train(x, data)
        members = self.fit_.cate(x)  # members x rows
        self.member_cate_ = members
        rows = estimand_rows(data, self.estimand)
        per_member = members[:, rows].mean(axis=1)
        cate = members.mean(axis=0)
        m = members.shape[0]
        training = (ENSEMBLE.format(m=m, strata=" stratified by arm") if m > 1
                    else "one network on a random 70/30 split")
        details = {"network": self._network_options(), "members": m, "paper": self.paper,
                   "training": training_details(self.fit_.ensemble),
                   "member_estimates": [float(v) for v in per_member], **self._extra_details()}
        plugin, plugin_se = float(per_member.mean()), spread(per_member)
        details["plugin"] = {"value": plugin, "std_error": plugin_se}
        if self.options.ate == "plugin":
            method = f"{self.summary}; {training}; ATE = members' mean, SE = their standard deviation" + \
                ("" if m > 1 else " (no interval with one member)")
            return Fit(value=plugin, std_error=plugin_se, cate=cate, method=method, details=details)
        from estimators.deep.inference import aipw, out_of_bag_mean

        mu0, mu1 = self.fit_.outcomes(x)
        oob = self.fit_.ensemble.out_of_bag
        e = self._propensity(x, data)
        value, se, info = aipw(data.Y, data.T, out_of_bag_mean(mu0, oob), out_of_bag_mean(mu1, oob), e,
                               self.estimand, CLIP)
        details["aipw"] = {**info, "propensity": self.propensity_source}
        method = (f"{self.summary}; {training}; {self.estimand.upper()} = AIPW with the members' out-of-bag outcome "
                  f"predictions and {self.propensity_source} (clipped to [{CLIP}, {1 - CLIP}]), "
                  "influence-function SE")
        return Fit(value=value, std_error=se, cate=cate, method=method, details=details)

    def _propensity(self, x: np.ndarray, data: CausalData) -> np.ndarray:
        from estimators.propensity import propensity_scores

        return propensity_scores(x, data.T, "logistic")[0]

    def _extra_details(self) -> dict[str, Any]:
        return {}

    def effect(self, X: np.ndarray) -> np.ndarray:
        """The members' mean CATE at new rows of the adjustment matrix (same columns as in fit)."""
        return self.fit_.cate(np.asarray(X, dtype=float)).mean(axis=0)

    def effect_interval(self, X: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise interval of the CATE from the members' spread (normal approximation; variance only, NaN
        with one network): unlike the average effect, a unit's effect has no doubly robust correction."""
        from scipy import stats

        members = self.fit_.cate(np.asarray(X, dtype=float))
        z = float(stats.norm.ppf(1 - alpha / 2))
        mean = members.mean(axis=0)
        sd = members.std(axis=0, ddof=1) if members.shape[0] > 1 else np.full(mean.shape, np.nan)  # one network
        return mean - z * sd, mean + z * sd

    def segment_effect(self, rows: np.ndarray, cate: np.ndarray) -> tuple[float, float]:
        return float(cate[rows].mean()), spread(self.member_cate_[:, rows].mean(axis=1))


@register
class TarNet(_DeepCate):
    name = "tarnet"
    summary = "TARNet: shared representation, one outcome head per arm"
    paper = "Shalit, Johansson & Sontag (2017)"

    def _train(self, x, data):
        from estimators.deep.tarnet import fit_tarnet

        return fit_tarnet(x, data.T, data.Y, n_members=members_for(self.options, data.n), seed=self.seed,
                          settings=settings_of(self.options))


@register
class CfrNet(_DeepCate):
    name = "cfrnet"
    summary = "CFRNet: TARNet with an IPM penalty balancing the arms' representations"
    paper = "Shalit, Johansson & Sontag (2017)"

    class Options(CateOptions):
        ipm: Annotated[str, choice("wasserstein", "mmd")] = Field("wasserstein", description="balance penalty: "
                                                                  "wasserstein (Sinkhorn) or mmd (Gaussian kernel)")
        alpha: Annotated[float, number(0.0, 1e4, open_low=False)] = Field(1.0, description="weight of the IPM penalty")

    def _train(self, x, data):
        from estimators.deep.tarnet import fit_cfrnet

        return fit_cfrnet(x, data.T, data.Y, n_members=members_for(self.options, data.n), seed=self.seed,
                          settings=settings_of(self.options), ipm=self.options.ipm, alpha=self.options.alpha)


@register
class DragonNet(_DeepCate):
    name = "dragonnet"
    summary = "DragonNet: propensity head and targeted regularisation; plug-in effect of the targeted fit"
    paper = "Shi, Blei & Veitch (2019)"

    class Options(CateOptions):
        alpha: Annotated[float, number(0.0, 1e3, open_low=False)] = Field(1.0, description="weight of the "
                                                                          "propensity (cross-entropy) loss")
        beta: Annotated[float, number(0.0, 1e3, open_low=False)] = Field(1.0, description="weight of the targeted "
                                                                         "regularisation")

    def _train(self, x, data):
        from estimators.deep.dragonnet import fit_dragonnet

        return fit_dragonnet(x, data.T, data.Y, n_members=members_for(self.options, data.n), seed=self.seed,
                             settings=settings_of(self.options), alpha=self.options.alpha, beta=self.options.beta)

    propensity_source = "its propensity head (members' out-of-bag mean)"

    def _propensity(self, x, data):
        from estimators.deep.dragonnet import propensity
        from estimators.deep.inference import out_of_bag_mean

        return out_of_bag_mean(propensity(self.fit_, x), self.fit_.ensemble.out_of_bag)


@register
class DcnPd(_DeepCate):
    name = "dcn_pd"
    summary = "DCN-PD: alternating treated/control epochs, propensity-dropout"
    paper = "Alaa, Weisz & van der Schaar (2017)"

    class Options(CateOptions):
        gamma: Annotated[float, number(0.0, 1.0, open_low=False, open_high=False)] = Field(
            1.0, description="dropout offset: p(x) = 1 - gamma/2 - H(e(x))/2")

    def _train(self, x, data):
        from estimators.deep.dcn_pd import fit_dcn_pd

        return fit_dcn_pd(x, data.T, data.Y, n_members=members_for(self.options, data.n), seed=self.seed,
                          settings=settings_of(self.options), gamma=self.options.gamma)

    def _extra_details(self) -> dict[str, Any]:
        return {"dropout_probability": self.fit_.extra["dropout_probability"]}

    propensity_source = "its propensity network (the one that sets the dropout)"

    def _propensity(self, x, data):
        return self.fit_.extra["propensity"]


@register
class Cevae(_DeepCate):
    name = "cevae"
    summary = "CEVAE: variational autoencoder for a hidden confounder seen through proxies"
    paper = "Louizos, Shalit, Mooij, Sontag, Zemel & Welling (2017)"
    # its use is the graph with a latent confounder, where no back-door set exists: the proxies stand in
    requires = ("proxies",)

    class Options(CateOptions):
        latent_dim: Annotated[int, integer(1, 200)] = Field(5, description="dimension of the hidden confounder z")
        # the ELBO creeps down for 150-250 epochs at 1e-3; 3e-3 reaches as good a fit in fewer (cevae.py)
        learning_rate: Annotated[float, number(0.0, 1.0)] = Field(3e-3, description="Adam learning rate")
        # an AIPW correction would adjust for the proxies as if they were the confounder, which is the
        # bias CEVAE is there to avoid (bench/results/deep-proxy.md)
        ate: Annotated[str, choice("aipw", "plugin")] = Field("plugin", description="average effect and its "
                                                              "interval: plugin (members' mean and spread) or aipw")

    def check(self, data: CausalData) -> None:
        super().check(data)
        proxies = getattr(data, "proxies", None)
        if proxies is None or np.asarray(proxies).size == 0:
            raise NotApplicable("cevae needs proxies: declare the spec's `proxies` (noisy measurements of the "
                                "hidden confounder)")

    def features(self, data: CausalData) -> np.ndarray:
        """Adjustment columns and proxies, each column once: all are treated as views of z."""
        known = set(data.covariate_names)
        extra = [i for i, name in enumerate(getattr(data, "proxy_names", [])) if name not in known]
        proxies = np.asarray(data.proxies, dtype=float)
        if getattr(data, "proxy_names", None):
            proxies = proxies[:, extra]
        parts = [p for p in (data.covariates, proxies) if p.shape[1]]
        return np.hstack(parts) if parts else np.zeros((data.n, 1))

    def _train(self, x, data):
        from estimators.deep.cevae import fit_cevae

        return fit_cevae(x, data.T, data.Y, n_members=members_for(self.options, data.n), seed=self.seed,
                         settings=settings_of(self.options), latent_dim=self.options.latent_dim)
