"""How numbers read in every place a person sees them: the CLI, the report, Prefect's summaries."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["number"]


def number(value: Any, digits: int = 4) -> str:
    """4 significant digits for floats, thousands separators for counts, '–' for a missing value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
