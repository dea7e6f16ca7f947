"""The estimator contract: CausalData in, one frozen Estimate out (EconML's Y, T, X, W vocabulary)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from estimators.options import EstimatorOptions

__all__ = ["CausalData", "Estimate", "Estimator", "Fit", "NotApplicable", "normal_inference", "Z95"]

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975), written out: scipy.stats costs a second to import


class NotApplicable(Exception):
    """The estimator cannot serve this spec (estimand, treatment type, missing role); says why."""


def _is_categorical(series: pd.Series, column: str, categorical: set[str]) -> bool:
    return column in categorical or not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _design(frame: pd.DataFrame, columns: list[str], categorical: set[str]) -> tuple[np.ndarray, list[str]]:
    """Numeric matrix for columns; categorical ones one-hot with the first level dropped (fixed effects)."""
    parts, names = [], []
    for column in columns:
        series = frame[column]
        if _is_categorical(series, column, categorical):
            dummies = pd.get_dummies(series.astype(str), prefix=column, prefix_sep="=", drop_first=True, dtype=float)
            parts.append(dummies.to_numpy())
            names.extend(dummies.columns)
        else:
            parts.append(series.to_numpy(dtype=float)[:, None])
            names.append(column)
    if not parts:
        return np.empty((len(frame), 0)), []
    return np.hstack(parts), names


@dataclass(frozen=True)
class CausalData:
    """The analysed data in EconML's vocabulary: outcome Y, treatment T, effect modifiers X and
    controls W (the adjustment columns that are not modifiers). `covariates` is the whole adjustment
    matrix (controls and modifiers, in the analysis's column order): what a back-door estimator
    adjusts for."""

    Y: np.ndarray
    T: np.ndarray
    covariates: np.ndarray
    X: np.ndarray
    covariate_names: list[str]
    x_names: list[str]
    segments: dict[str, np.ndarray] = field(default_factory=dict)
    treatment_type: str = "binary"
    dropped_rows: int = 0
    # Roles beyond the back-door design (IV, regression discontinuity, front-door); empty when absent.
    Z: np.ndarray | None = None  # instruments, one column each (categoricals one-hot)
    z_names: list[str] = field(default_factory=list)
    R: np.ndarray | None = None  # running variable
    cutoff: float | None = None
    M: np.ndarray | None = None  # front-door mediators
    m_names: list[str] = field(default_factory=list)
    backdoor_identified: bool = True  # False: the graph licenses no back-door set, covariates hold no adjustment
    proxies: np.ndarray | None = None  # noisy proxies of a latent confounder (CEVAE), one column each
    proxy_names: list[str] = field(default_factory=list)
    # negative controls (spec `negative_controls`): outcomes T cannot affect, exposures that cannot affect Y
    negative_outcomes: dict[str, np.ndarray] = field(default_factory=dict)
    negative_exposures: dict[str, np.ndarray] = field(default_factory=dict)
    # categorical adjustment columns (fixed effects) -> each row's level: overlap is judged within them
    strata: dict[str, np.ndarray] = field(default_factory=dict)
    rows: np.ndarray | None = None  # each row's 0-based position in the frame it was built from

    @property
    def n(self) -> int:
        return int(self.Y.size)

    @property
    def w_names(self) -> list[str]:
        modifiers = set(self.x_names)
        return [name for name in self.covariate_names if name not in modifiers]

    @property
    def W(self) -> np.ndarray:
        """The controls: adjustment columns that are not effect modifiers."""
        modifiers = set(self.x_names)
        keep = [i for i, name in enumerate(self.covariate_names) if name not in modifiers]
        return self.covariates if len(keep) == len(self.covariate_names) else self.covariates[:, keep]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, treatment: str, outcome: str, adjustment: list[str],
                   modifiers: list[str] = (), segments: list[str] = (), categorical: list[str] = (),
                   treatment_type: str = "binary", instruments: list[str] = (), running_variable: str | None = None,
                   cutoff: float | None = None, mediators: list[str] = (), proxies: list[str] = (),
                   negative_outcomes: list[str] = (), negative_exposures: list[str] = (),
                   backdoor_identified: bool = True) -> CausalData:
        modifiers = list(modifiers)
        covariates = list(dict.fromkeys([*adjustment, *modifiers]))
        extra = [*instruments, *mediators, *proxies, *negative_outcomes, *negative_exposures,
                 *([running_variable] if running_variable else [])]
        used = list(dict.fromkeys([treatment, outcome, *covariates, *segments, *extra]))
        complete = frame[used].dropna()
        cats = set(categorical)
        W, w_names = _design(complete, covariates, cats)
        X, x_names = _design(complete, modifiers, cats)
        Z, z_names = _design(complete, list(instruments), cats) if instruments else (None, [])
        M, m_names = _design(complete, list(mediators), cats) if mediators else (None, [])
        P, p_names = _design(complete, list(proxies), cats) if proxies else (None, [])
        return cls(
            Y=complete[outcome].to_numpy(dtype=float),
            T=complete[treatment].to_numpy(dtype=float),
            covariates=W, X=X, covariate_names=w_names, x_names=x_names, proxies=P, proxy_names=p_names,
            segments={s: complete[s].astype(str).to_numpy() for s in segments},
            treatment_type=treatment_type,
            dropped_rows=len(frame) - len(complete),
            Z=Z, z_names=z_names, M=M, m_names=m_names, cutoff=cutoff, backdoor_identified=backdoor_identified,
            R=complete[running_variable].to_numpy(dtype=float) if running_variable else None,
            negative_outcomes={c: complete[c].to_numpy(dtype=float) for c in negative_outcomes},
            negative_exposures={c: complete[c].to_numpy(dtype=float) for c in negative_exposures},
            strata={c: complete[c].astype(str).to_numpy() for c in adjustment
                    if _is_categorical(complete[c], c, cats) and complete[c].nunique() > 2},
            rows=np.flatnonzero(frame[used].notna().all(axis=1).to_numpy()),
        )

    def subset(self, rows: np.ndarray) -> CausalData:
        def take(a):
            return None if a is None else a[rows]

        return self.replace(Y=self.Y[rows], T=self.T[rows], covariates=self.covariates[rows], X=self.X[rows],
                            segments={k: v[rows] for k, v in self.segments.items()}, dropped_rows=0,
                            Z=take(self.Z), R=take(self.R), M=take(self.M), proxies=take(self.proxies),
                            negative_outcomes={k: v[rows] for k, v in self.negative_outcomes.items()},
                            negative_exposures={k: v[rows] for k, v in self.negative_exposures.items()},
                            strata={k: v[rows] for k, v in self.strata.items()},
                            rows=take(self.rows))

    def replace(self, **changes: Any) -> CausalData:
        values = {k: getattr(self, k) for k in self.__dataclass_fields__}
        values.update(changes)
        return CausalData(**values)


@dataclass(frozen=True)
class Estimate:
    """One estimator's answer; `value` is the point estimate of whatever `estimand` names."""

    estimator: str
    estimand: str
    value: float = math.nan
    std_error: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p_value: float | None = None
    n: int = 0
    seconds: float = 0.0
    status: str = "ok"
    error: str | None = None
    method: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    cate: np.ndarray | None = field(default=None, repr=False, compare=False)
    # segment column -> rows {"segment", "n", "cate", "std_error", "ci_low", "ci_high"} (CATE estimators)
    segments: dict[str, list[dict]] | None = field(default=None, repr=False, compare=False)
    # the fitted CATE estimator itself, kept in memory for the run's later steps (the served model reuses
    # it instead of fitting every estimator a second time); never written anywhere
    fitted: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        def num(x):
            return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)

        return {
            "estimator": self.estimator, "estimand": self.estimand, "ate": num(self.value),
            "std_error": num(self.std_error), "ci_low": num(self.ci_low), "ci_high": num(self.ci_high),
            "p_value": num(self.p_value), "n": self.n, "seconds": round(self.seconds, 4),
            "status": self.status, "error": self.error, "method": self.method, "details": self.details,
        }


def _norm():
    from scipy.stats import norm  # imported when first needed: `whyflow estimators` stays quick

    return norm


def normal_inference(value: float, std_error: float) -> dict[str, float]:
    """95% Wald interval and two-sided p-value for H0: effect = 0."""
    if not (math.isfinite(std_error) and std_error > 0):
        return {"ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan}
    z = value / std_error
    return {"ci_low": value - Z95 * std_error, "ci_high": value + Z95 * std_error,
            "p_value": float(2.0 * _norm().sf(abs(z)))}


@dataclass(frozen=True)
class Fit:
    """What an estimator's `_fit` returns; `Estimator.fit` turns it into the Estimate with inference.
    An estimator that builds its own interval (RD's robust bias-corrected CI) sets ci_low/ci_high."""

    value: float
    std_error: float
    cate: np.ndarray | None = None
    details: dict[str, Any] = field(default_factory=dict)
    method: str | None = None
    n: int | None = None
    estimand: str | None = None  # when the design names it differently (e.g. 2SLS's LATE)
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None


class Estimator:
    """Base class: scikit-learn's contract in EconML's vocabulary. The constructor only validates and
    stores keyword-only parameters (an unknown option fails here, naming the accepted ones); `fit`
    returns self with `estimate_`; `ate()`, `ate_interval(alpha)` and `effect(X)` read the fit.
    Subclasses set the class attributes, declare `class Options(EstimatorOptions)` when they take
    options, and implement `_fit(data) -> Fit`."""

    name: ClassVar[str]
    family: ClassVar[str]
    summary: ClassVar[str]
    estimands: ClassVar[tuple[str, ...]] = ("ate", "att", "atc")
    treatment_types: ClassVar[tuple[str, ...]] = ("binary",)
    gives_cate: ClassVar[bool] = False
    streams: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()
    Options: ClassVar[type[EstimatorOptions]] = EstimatorOptions

    def __init__(self, *, estimand: str = "ate", seed: int = 0, **options: Any):
        self.estimand = estimand
        self.seed = seed
        self.options = self.Options.parse(options)
        self.estimate_: Estimate | None = None

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Raise ValueError naming an unknown option (and the accepted ones) or a bad value."""
        cls.Options.parse(options)

    def check(self, data: CausalData) -> None:
        """Raise NotApplicable naming why this estimator cannot serve the request."""
        if self.estimand not in self.estimands:
            raise NotApplicable(f"{self.name} cannot target the {self.estimand.upper()}; it estimates "
                                f"{', '.join(e.upper() for e in self.estimands)}")
        if data.treatment_type not in self.treatment_types:
            raise NotApplicable(f"{self.name} does not take a {data.treatment_type} treatment")
        if not self.requires and not data.backdoor_identified:
            raise NotApplicable(f"{self.name} adjusts for back-door confounders, and the graph identifies no "
                                "back-door adjustment set")

    def segment_effect(self, rows: np.ndarray, cate: np.ndarray) -> tuple[float, float]:
        """Mean CATE over the rows and its standard error; called after `_fit` on the fitted state.
        The default has no inference (NaN); CATE estimators override it with their own."""
        return float(cate[rows].mean()), math.nan

    def _segment_table(self, data: CausalData, cate: np.ndarray | None) -> dict[str, list[dict]] | None:
        if not self.gives_cate or cate is None or not data.segments:
            return None
        table = {}
        for segment, labels in data.segments.items():
            rows = []
            for label in sorted(set(labels)):
                members = labels == label
                value, se = self.segment_effect(members, cate)
                ci = normal_inference(value, se)
                rows.append({"segment": str(label), "n": int(members.sum()), "cate": value,
                             "std_error": se, "ci_low": ci["ci_low"], "ci_high": ci["ci_high"]})
            table[segment] = rows
        return table

    def fit(self, data: CausalData) -> Self:
        started = time.perf_counter()
        try:
            self.check(data)
            out = self._fit(data)
        except NotApplicable as exc:
            self.estimate_ = Estimate(self.name, self.estimand, status="not_applicable", error=str(exc),
                                      seconds=time.perf_counter() - started)
            return self
        value, se = float(out.value), float(out.std_error)
        inference = normal_inference(value, se)
        for key in ("ci_low", "ci_high", "p_value"):  # an estimator's own interval wins
            if getattr(out, key) is not None:
                inference[key] = float(getattr(out, key))
        self.estimate_ = Estimate(
            estimator=self.name, estimand=out.estimand or self.estimand, value=value, std_error=se, **inference,
            n=int(out.n if out.n is not None else data.n), seconds=time.perf_counter() - started,
            method=out.method or self.summary, details=out.details, cate=out.cate,
            segments=self._segment_table(data, out.cate),
        )
        return self

    def _fit(self, data: CausalData) -> Fit:
        raise NotImplementedError

    def _fitted(self) -> Estimate:
        if self.estimate_ is None:
            raise RuntimeError(f"{self.name} is not fitted; call fit(data) first")
        return self.estimate_

    def ate(self) -> float:
        """The point estimate of the fitted estimand (ATE, ATT, ATC, LATE, ...)."""
        return self._fitted().value

    def ate_interval(self, alpha: float = 0.05) -> tuple[float, float]:
        """Two-sided (1 - alpha) Wald interval from the fitted standard error."""
        estimate = self._fitted()
        z = float(_norm().ppf(1 - alpha / 2))
        return estimate.value - z * estimate.std_error, estimate.value + z * estimate.std_error

    def features(self, data: CausalData) -> np.ndarray:
        """The matrix `effect` takes for the rows of `data`: the effect modifiers X, unless the
        estimator's CATE is a function of other columns (the meta-learners: every covariate)."""
        return data.X

    def effect(self, X: np.ndarray) -> np.ndarray:
        """CATE at new rows (given as `features(data)`), from the fitted state; CATE estimators that
        can predict on new rows override this."""
        raise NotImplementedError(f"{self.name} does not predict effects on new rows")
