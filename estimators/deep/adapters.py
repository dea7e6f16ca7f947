"""The deep networks as registry estimators: thin adapters from CausalData to the networks' numpy API.

Nothing heavy is imported here: JAX loads when an estimator fits, and without the `deep` extra the
estimators report not_applicable with the install command. Every network takes the whole adjustment
matrix (`data.covariates`) as input. Intervals come from the ensemble: M members, each trained on a
bootstrap resample of the rows (stratified by arm for a binary treatment) from its own seed and
early-stopped on its out-of-bag rows; the estimate is the members' mean and its standard error their
standard deviation (a bootstrap standard error that also carries the optimiser's seed-to-seed
spread). Coverage is measured in bench/results/deep-ihdp.md, not assumed.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from estimators.base import CausalData, Estimator, Fit, NotApplicable
from estimators.deep.runtime import DEEP_EXTRA_HINT, deep_available
from estimators.econml_common import estimand_rows
from estimators.options import EstimatorOptions, choice, integer, number
from estimators.registry import register

__all__ = ["TarNet", "CfrNet", "DragonNet", "DcnPd", "DrNet", "VcNet", "Cevae", "DeepOptions"]

_ENSEMBLE = ("an ensemble of {m} members, each on a bootstrap resample{strata} with its own seed and early-stopped "
             "on its out-of-bag rows; estimate = members' mean, standard error = their standard deviation")


class DeepOptions(EstimatorOptions):
    """Training options every deep estimator takes."""

    members: Annotated[int, integer(1, 200)] = Field(10, description="ensemble members (bootstrap resamples); "
                                                                    "1 trains once on a random split and gives no CI")
    max_epochs: Annotated[int, integer(1, 100_000)] = Field(300, description="epochs at most")
    patience: Annotated[int, integer(1, 10_000)] = Field(20, description="epochs without a better validation loss "
                                                                        "before a member stops")
    batch_size: Annotated[int, integer(0)] = Field(0, description="minibatch rows; 0 = 64, or 256 above 6,400 "
                                                                  "training rows")
    learning_rate: Annotated[float, number(0.0, 1.0)] = Field(1e-3, description="Adam learning rate")
    weight_decay: Annotated[float, number(0.0, 1.0, open_low=False)] = Field(1e-4, description="decoupled weight "
                                                                                              "decay (AdamW)")


def _settings(options: DeepOptions):
    from estimators.deep.train import TrainSettings

    return TrainSettings(options.max_epochs, options.patience, options.batch_size, options.learning_rate,
                         options.weight_decay)


def _spread(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else math.nan


class _DeepEstimator(Estimator):
    family = "deep learning (JAX)"
    paper: ClassVar[str] = ""
    Options = DeepOptions

    def check(self, data: CausalData) -> None:
        super().check(data)
        if not deep_available():
            raise NotApplicable(f"{self.name}: {DEEP_EXTRA_HINT}")

    def features(self, data: CausalData) -> np.ndarray:
        return data.covariates if data.covariates.shape[1] else np.zeros((data.n, 1))

    def _network_options(self) -> dict[str, Any]:
        """The options that shape the network (the subclass's own fields beyond DeepOptions)."""
        return {k: getattr(self.options, k) for k in type(self.options).model_fields if k not in DeepOptions.model_fields}


class _DeepCate(_DeepEstimator):
    """Binary treatment, a CATE per row; ATE/ATT/ATC average it over the estimand's rows."""

    gives_cate = True

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
        method = (f"{self.summary}; " + _ENSEMBLE.format(m=m, strata=" stratified by arm")) if m > 1 else \
            f"{self.summary}; one network on a random 70/30 split (members: 1), no interval"
        details = {"network": self._network_options(), "members": m, "paper": self.paper,
                   "training": {**self.fit_.ensemble.summary(), "curves": self.fit_.ensemble.curves()},
                   "member_estimates": [float(v) for v in per_member], **self._extra_details()}
        return Fit(value=float(per_member.mean()), std_error=_spread(per_member), cate=cate, method=method,
                   details=details)

    def _extra_details(self) -> dict[str, Any]:
        return {}

    def effect(self, X: np.ndarray) -> np.ndarray:
        """The members' mean CATE at new rows of the adjustment matrix (same columns as in fit)."""
        return self.fit_.cate(np.asarray(X, dtype=float)).mean(axis=0)

    def effect_interval(self, X: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise interval of the CATE from the members' spread (normal approximation)."""
        from scipy import stats

        members = self.fit_.cate(np.asarray(X, dtype=float))
        z = float(stats.norm.ppf(1 - alpha / 2))
        mean, sd = members.mean(axis=0), members.std(axis=0, ddof=1)
        return mean - z * sd, mean + z * sd

    def segment_effect(self, rows: np.ndarray, cate: np.ndarray) -> tuple[float, float]:
        return float(cate[rows].mean()), _spread(self.member_cate_[:, rows].mean(axis=1))


@register
class TarNet(_DeepCate):
    name = "tarnet"
    summary = "TARNet: shared representation, one outcome head per arm"
    paper = "Shalit, Johansson & Sontag (2017)"

    def _train(self, x, data):
        from estimators.deep.tarnet import fit_tarnet

        return fit_tarnet(x, data.T, data.Y, n_members=self.options.members, seed=self.seed,
                          settings=_settings(self.options))


@register
class CfrNet(_DeepCate):
    name = "cfrnet"
    summary = "CFRNet: TARNet with an IPM penalty balancing the arms' representations"
    paper = "Shalit, Johansson & Sontag (2017)"

    class Options(DeepOptions):
        ipm: Annotated[str, choice("wasserstein", "mmd")] = Field("wasserstein", description="balance penalty: "
                                                                  "wasserstein (Sinkhorn) or mmd (Gaussian kernel)")
        alpha: Annotated[float, number(0.0, 1e4, open_low=False)] = Field(1.0, description="weight of the IPM penalty")

    def _train(self, x, data):
        from estimators.deep.tarnet import fit_cfrnet

        return fit_cfrnet(x, data.T, data.Y, n_members=self.options.members, seed=self.seed,
                          settings=_settings(self.options), ipm=self.options.ipm, alpha=self.options.alpha)


@register
class DragonNet(_DeepCate):
    name = "dragonnet"
    summary = "DragonNet: propensity head and targeted regularisation; plug-in effect of the targeted fit"
    paper = "Shi, Blei & Veitch (2019)"

    class Options(DeepOptions):
        alpha: Annotated[float, number(0.0, 1e3, open_low=False)] = Field(1.0, description="weight of the "
                                                                          "propensity (cross-entropy) loss")
        beta: Annotated[float, number(0.0, 1e3, open_low=False)] = Field(1.0, description="weight of the targeted "
                                                                         "regularisation")

    def _train(self, x, data):
        from estimators.deep.dragonnet import fit_dragonnet

        return fit_dragonnet(x, data.T, data.Y, n_members=self.options.members, seed=self.seed,
                             settings=_settings(self.options), alpha=self.options.alpha, beta=self.options.beta)


@register
class DcnPd(_DeepCate):
    name = "dcn_pd"
    summary = "DCN-PD: alternating treated/control epochs, propensity-dropout"
    paper = "Alaa, Weisz & van der Schaar (2017)"

    class Options(DeepOptions):
        gamma: Annotated[float, number(0.0, 1.0, open_low=False, open_high=False)] = Field(
            1.0, description="dropout offset: p(x) = 1 - gamma/2 - H(e(x))/2")

    def _train(self, x, data):
        from estimators.deep.dcn_pd import fit_dcn_pd

        return fit_dcn_pd(x, data.T, data.Y, n_members=self.options.members, seed=self.seed,
                          settings=_settings(self.options), gamma=self.options.gamma)

    def _extra_details(self) -> dict[str, Any]:
        return {"dropout_probability": self.fit_.extra["dropout_probability"]}


@register
class Cevae(_DeepCate):
    name = "cevae"
    summary = "CEVAE: variational autoencoder for a hidden confounder seen through proxies"
    paper = "Louizos, Shalit, Mooij, Sontag, Zemel & Welling (2017)"
    # its use is the graph with a latent confounder, where no back-door set exists: the proxies stand in
    requires = ("proxies",)

    class Options(DeepOptions):
        latent_dim: Annotated[int, integer(1, 200)] = Field(5, description="dimension of the hidden confounder z")

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

        return fit_cevae(x, data.T, data.Y, n_members=self.options.members, seed=self.seed,
                         settings=_settings(self.options), latent_dim=self.options.latent_dim)


class _DeepDose(_DeepEstimator):
    """Continuous treatment: mu(t) on a grid with a band; value = average derivative."""

    estimands = ("ate",)
    treatment_types = ("continuous",)

    def _train(self, x, data):
        raise NotImplementedError

    def _fit(self, data: CausalData) -> Fit:
        x = self.features(data)
        self.fit_ = self._train(x, data)
        low, high = np.quantile(data.T, [0.05, 0.95])
        grid = np.linspace(low, high, self.options.grid_points)
        curve = self.fit_.dose_response(x, grid)
        slopes = self.fit_.average_derivative(x, data.T)
        m = slopes.size
        method = (f"{self.summary}; value = average derivative E[d mu(T, X)/dT] (outcome units per unit of "
                  f"treatment); " + (_ENSEMBLE.format(m=m, strata="") if m > 1 else "one network, no interval"))
        details = {"dose_response": curve, "network": self._network_options(), "members": m, "paper": self.paper,
                   "training": {**self.fit_.ensemble.summary(), "curves": self.fit_.ensemble.curves()},
                   "member_estimates": [float(v) for v in slopes]}
        return Fit(value=float(slopes.mean()), std_error=_spread(slopes), method=method, details=details)


class _DoseOptions(DeepOptions):
    grid_points: Annotated[int, integer(2, 1000)] = Field(21, description="doses in the reported curve, evenly "
                                                          "spaced between the treatment's 5% and 95% quantiles")


@register
class DrNet(_DeepDose):
    name = "drnet"
    summary = "DRNet: dose-response network, one head per stratum of the dose"
    paper = "Schwab, Linhardt, Bauer, Buhmann & Karlen (2020)"

    class Options(_DoseOptions):
        n_strata: Annotated[int, integer(1, 50)] = Field(5, description="heads, one per equal-width dose stratum")

    def _train(self, x, data):
        from estimators.deep.drnet import fit_drnet

        return fit_drnet(x, data.T, data.Y, n_members=self.options.members, seed=self.seed,
                         settings=_settings(self.options), n_strata=self.options.n_strata)


@register
class VcNet(_DeepDose):
    name = "vcnet"
    summary = "VCNet: varying-coefficient network with functional targeted regularisation"
    paper = "Nie, Ye, Liu & Nicolae (2021)"

    class Options(_DoseOptions):
        # 1e-3 left the curve flattened towards its middle (MISE 0.23-0.25 vs 0.09-0.18 at 1e-2 on
        # simulation seeds 101-103, which the bench does not use)
        learning_rate: Annotated[float, number(0.0, 1.0)] = Field(1e-2, description="Adam learning rate")
        alpha: Annotated[float, number(0.0, 1e3, open_low=False)] = Field(0.5, description="weight of the "
                                                                          "conditional density loss")
        beta: Annotated[float, number(0.0, 1e3, open_low=False)] = Field(1.0, description="weight of the targeted "
                                                                         "regularisation")

    def _train(self, x, data):
        from estimators.deep.vcnet import fit_vcnet

        return fit_vcnet(x, data.T, data.Y, n_members=self.options.members, seed=self.seed,
                         settings=_settings(self.options), alpha=self.options.alpha, beta=self.options.beta)
