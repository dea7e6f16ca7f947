"""Value checks for estimator options, so a bad `estimator_options` entry fails before any work."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["check_int", "check_float", "check_bool", "check_choice"]


def check_int(options: dict[str, Any], key: str, low: int, high: int | None = None) -> None:
    if key not in options:
        return
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"`{key}` must be an integer {bound}; got {value!r}")


def check_float(options: dict[str, Any], key: str, low: float, high: float, *, allow_none: bool = False,
                open_low: bool = True, open_high: bool = True) -> None:
    if key not in options or (allow_none and options[key] is None):
        return
    value = options[key]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
    if not ok:
        interval = f"{'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
        raise ValueError(f"`{key}` must be a number in {interval}{' or null' if allow_none else ''}; got {value!r}")


def check_bool(options: dict[str, Any], key: str) -> None:
    if key in options and not isinstance(options[key], bool):
        raise ValueError(f"`{key}` must be true or false; got {options[key]!r}")


def check_choice(options: dict[str, Any], key: str, choices: tuple) -> None:
    if key in options and options[key] not in choices:
        raise ValueError(f"`{key}` must be one of {', '.join(map(str, choices))}; got {options[key]!r}")
