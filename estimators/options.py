"""Estimator options: one frozen model per estimator, checked when the estimator is built.

Each estimator declares `class Options(EstimatorOptions)` with one field per option: its default
(written once, here) and what it does. An unknown option fails at construction naming the accepted
ones, and a bad value fails with "`<option>` must be ...; got ..." (scikit-learn's discipline), so a
misspelt `estimator_options` entry never runs silently with the default.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo

from estimators.nuisance import OUTCOME_MODELS, PROPENSITY_MODELS

__all__ = ["EstimatorOptions", "NuisanceOptions", "OutcomeModel", "PropensityModel", "integer", "number", "flag",
           "choice", "multiple_of", "not_one", "auto_or_positive", "propensity_bounds", "bounds_of"]


class EstimatorOptions(BaseModel):
    """Base of every estimator's options; an estimator without options uses it as it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def parse(cls, options: dict[str, Any]) -> Self:
        """The validated options, or ValueError in one line naming the option and what was expected."""
        unknown = [key for key in options if key not in cls.model_fields]
        if unknown:
            accepted = ", ".join(sorted(cls.model_fields)) or "none"
            raise ValueError(f"unknown option {unknown[0]!r}; accepted: {accepted}")
        try:
            return cls(**options)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(part) for part in error["loc"])
            cause = (error.get("ctx") or {}).get("error")
            if isinstance(cause, ValueError):  # our own validators' messages are already one line
                raise ValueError(str(cause)) from None
            raise ValueError(f"`{key}`: {error['msg']}; got {error.get('input')!r}") from None

    @classmethod
    def describe(cls) -> dict[str, str]:
        """Option name -> what it does and its default, for `whyflow estimators` and error messages."""
        return {name: f"{field.description} (default {field.default!r})" for name, field in cls.model_fields.items()}


def integer(low: int, high: int | None = None, *, allow_none: bool = False) -> BeforeValidator:
    def check(value: Any, info: ValidationInfo) -> Any:
        if value is None and allow_none:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise ValueError(f"`{info.field_name}` must be an integer {bound}{' or null' if allow_none else ''}; "
                             f"got {value!r}")
        return value

    return BeforeValidator(check)


def number(low: float, high: float, *, open_low: bool = True, open_high: bool = True,
           allow_none: bool = False) -> BeforeValidator:
    def check(value: Any, info: ValidationInfo) -> Any:
        if value is None and allow_none:
            return value
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
        if not ok:
            interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
            raise ValueError(f"`{info.field_name}` must be a number in {interval}{' or null' if allow_none else ''}; got {value!r}")
        return value

    return BeforeValidator(check)


def flag() -> BeforeValidator:
    def check(value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"`{info.field_name}` must be true or false; got {value!r}")
        return value

    return BeforeValidator(check)


def choice(*choices: Any) -> BeforeValidator:
    def check(value: Any, info: ValidationInfo) -> Any:
        if value not in choices:
            raise ValueError(f"`{info.field_name}` must be one of {', '.join(map(str, choices))}; got {value!r}")
        return value

    return BeforeValidator(check)



def multiple_of(k: int) -> BeforeValidator:
    def check(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value % k:
            raise ValueError(f"`{info.field_name}` must be a multiple of {k}; got {value!r}")
        return value

    return BeforeValidator(check)


def not_one() -> BeforeValidator:
    """Replications: 0 means none; one replication has no spread."""
    def check(value: Any, info: ValidationInfo) -> Any:
        if value == 1 and not isinstance(value, bool):
            raise ValueError(f"`{info.field_name}` must be 0 (no CI) or at least 2; got 1")
        return value

    return BeforeValidator(check)


def auto_or_positive() -> BeforeValidator:
    def check(value: Any, info: ValidationInfo) -> Any:
        if value != "auto" and not (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0):
            raise ValueError(f"`{info.field_name}` must be 'auto' or a number > 0; got {value!r}")
        return value

    return BeforeValidator(check)


def bounds_of(clip: float | tuple[float, float] | None) -> tuple[float, float] | None:
    """Propensity bounds from a `clip` option: c means [c, 1 - c]; a pair is [low, high]; None: none."""
    if clip is None:
        return None
    if isinstance(clip, (int, float)):
        return float(clip), 1 - float(clip)
    return float(clip[0]), float(clip[1])


def propensity_bounds(*, allow_zero: bool = False) -> BeforeValidator:
    """`clip` means the same in every estimator: c for [c, 1 - c], or [low, high]."""
    def check(value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return value
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
            (0 <= value if allow_zero else 0 < value) and value < 0.5
        pair_ok = (isinstance(value, (list, tuple)) and len(value) == 2
                   and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in value)
                   and 0 < value[0] < value[1] < 1)
        if not (number_ok or pair_ok):
            low = "[0" if allow_zero else "(0"
            raise ValueError(f"`{info.field_name}` must be a number in {low}, 0.5) or [low, high] with "
                             f"0 < low < high < 1; got {value!r}")
        return tuple(float(c) for c in value) if pair_ok else value

    return BeforeValidator(check)


OutcomeModel = Annotated[str, choice(*OUTCOME_MODELS), Field(
    description=f"outcome regression: {' | '.join(OUTCOME_MODELS)} (from the spec's nuisance.outcome)")]
PropensityModel = Annotated[str, choice(*PROPENSITY_MODELS), Field(
    description=f"propensity model: {' | '.join(PROPENSITY_MODELS)} (from the spec's nuisance.propensity)")]

class NuisanceOptions(EstimatorOptions):
    """The nuisance learners an estimator fits; by default the spec's `nuisance` choice reaches them."""

    outcome_model: OutcomeModel = "linear"
    propensity_model: PropensityModel = "logistic"
