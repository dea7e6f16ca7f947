"""The estimator contract: CausalData in, one frozen Estimate out (EconML's Y, T, X, W vocabulary)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["CausalData", "Estimate", "Estimator", "NotApplicable", "normal_inference"]

Z95 = float(stats.norm.ppf(0.975))


class NotApplicable(Exception):
    """The estimator cannot serve this spec (estimand, treatment type, missing role); says why."""


def _design(frame: pd.DataFrame, columns: list[str], categorical: set[str]) -> tuple[np.ndarray, list[str]]:
    """Numeric matrix for columns; categorical ones one-hot with the first level dropped (fixed effects)."""
    parts, names = [], []
    for column in columns:
        series = frame[column]
        if column in categorical or not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
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
    """Outcome Y, treatment T, adjustment covariates W (modifiers included) and effect modifiers X."""

    Y: np.ndarray
    T: np.ndarray
    W: np.ndarray
    X: np.ndarray
    w_names: list[str]
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
    backdoor_identified: bool = True  # False: the graph licenses no back-door set, W holds no adjustment

    @property
    def n(self) -> int:
        return int(self.Y.size)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, treatment: str, outcome: str, adjustment: list[str],
                   modifiers: list[str] = (), segments: list[str] = (), categorical: list[str] = (),
                   treatment_type: str = "binary", instruments: list[str] = (), running_variable: str | None = None,
                   cutoff: float | None = None, mediators: list[str] = (),
                   backdoor_identified: bool = True) -> CausalData:
        modifiers = list(modifiers)
        covariates = list(dict.fromkeys([*adjustment, *modifiers]))
        extra = [*instruments, *mediators, *([running_variable] if running_variable else [])]
        used = list(dict.fromkeys([treatment, outcome, *covariates, *segments, *extra]))
        complete = frame[used].dropna()
        cats = set(categorical)
        W, w_names = _design(complete, covariates, cats)
        X, x_names = _design(complete, modifiers, cats)
        Z, z_names = _design(complete, list(instruments), cats) if instruments else (None, [])
        M, m_names = _design(complete, list(mediators), cats) if mediators else (None, [])
        return cls(
            Y=complete[outcome].to_numpy(dtype=float),
            T=complete[treatment].to_numpy(dtype=float),
            W=W, X=X, w_names=w_names, x_names=x_names,
            segments={s: complete[s].astype(str).to_numpy() for s in segments},
            treatment_type=treatment_type,
            dropped_rows=len(frame) - len(complete),
            Z=Z, z_names=z_names, M=M, m_names=m_names, cutoff=cutoff, backdoor_identified=backdoor_identified,
            R=complete[running_variable].to_numpy(dtype=float) if running_variable else None,
        )

    def subset(self, rows: np.ndarray) -> CausalData:
        def take(a):
            return None if a is None else a[rows]

        return self.replace(Y=self.Y[rows], T=self.T[rows], W=self.W[rows], X=self.X[rows],
                            segments={k: v[rows] for k, v in self.segments.items()}, dropped_rows=0,
                            Z=take(self.Z), R=take(self.R), M=take(self.M))

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


def normal_inference(value: float, std_error: float) -> dict[str, float]:
    """95% Wald interval and two-sided p-value for H0: effect = 0."""
    if not (math.isfinite(std_error) and std_error > 0):
        return {"ci_low": math.nan, "ci_high": math.nan, "p_value": math.nan}
    z = value / std_error
    return {"ci_low": value - Z95 * std_error, "ci_high": value + Z95 * std_error,
            "p_value": float(2.0 * stats.norm.sf(abs(z)))}


class Estimator:
    """Base class. Subclasses set the class attributes and implement `_fit` returning a dict with
    'value' and 'std_error' (and optionally 'cate', 'details', 'method', 'n')."""

    name: ClassVar[str]
    family: ClassVar[str]
    summary: ClassVar[str]
    estimands: ClassVar[tuple[str, ...]] = ("ate", "att", "atc")
    treatment_types: ClassVar[tuple[str, ...]] = ("binary",)
    gives_cate: ClassVar[bool] = False
    streams: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()
    # option name -> what it does; the spec's estimator_options are checked against these keys
    options_doc: ClassVar[dict[str, str]] = {}

    def __init__(self, estimand: str = "ate", seed: int = 0, **options: Any):
        self.estimand = estimand
        self.seed = seed
        self.options = options
        self.estimate_: Estimate | None = None

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

    @classmethod
    def check_options(cls, options: dict[str, Any]) -> None:
        """Raise ValueError naming an unknown option (and the accepted ones) or a bad value."""
        for key in options:
            if key not in cls.options_doc:
                raise ValueError(f"unknown option {key!r}; accepted: {', '.join(sorted(cls.options_doc)) or 'none'}")
        cls._check_option_values(options)

    @classmethod
    def _check_option_values(cls, options: dict[str, Any]) -> None:
        """Subclasses raise ValueError ("`<option>` must be ...; got ...") for a bad value."""

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
        value, se = float(out["value"]), float(out["std_error"])
        cate = out.get("cate")
        segments = self._segment_table(data, cate)
        self.estimate_ = Estimate(
            estimator=self.name, estimand=out.get("estimand", self.estimand), value=value, std_error=se,
            # an estimator may give its own interval (e.g. RD's robust bias-corrected CI)
            **{**normal_inference(value, se), **{k: float(out[k]) for k in ("ci_low", "ci_high", "p_value") if k in out}},
            n=int(out.get("n", data.n)),
            seconds=time.perf_counter() - started, method=out.get("method", self.summary),
            details=out.get("details", {}), cate=cate, segments=segments,
        )
        return self

    def _fit(self, data: CausalData) -> dict[str, Any]:
        raise NotImplementedError
