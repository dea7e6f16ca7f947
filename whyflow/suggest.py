"""Closest valid names for a misspelt one, for messages that say "did you mean ...?"."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest", "closest_names", "did_you_mean", "looks_like_typo"]

_CUTOFF = 0.6  # difflib's similarity ratio; 0.6 (its default) finds estimater -> estimators, regoin -> region


def closest_names(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` candidates most similar to `name` (case ignored), best first: names that contain it
    (`forest` -> `causal_forest`), shortest first, then difflib's closest."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(str(candidate).lower(), str(candidate))
    wanted = str(name).lower()
    containing = sorted((c for c in by_lower if len(wanted) >= 4 and wanted in c), key=lambda c: (len(c), c))
    similar = difflib.get_close_matches(wanted, list(by_lower), n=n, cutoff=_CUTOFF)
    return [by_lower[m] for m in dict.fromkeys([*containing, *similar])][:n]


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most similar to `name`, or None when none is close."""
    found = closest_names(name, candidates, n=1)
    return found[0] if found else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """"; did you mean 'x'?" to append to a message, or "" when no candidate is close."""
    found = closest(name, candidates)
    return f"; did you mean {found!r}?" if found else ""


def looks_like_typo(a: str, b: str) -> bool:
    """Whether two names differ by one slip of the keyboard: case only, two neighbouring letters
    swapped, or one letter added, dropped or replaced (digits are not: q1/q2 and score/score2 are
    different variables).
    Names shorter than four characters are never called typos of each other."""
    if a == b or min(len(a), len(b)) < 4:
        return False
    a, b = a.lower(), b.lower()
    if a == b:
        return True
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 2 and diff[1] == diff[0] + 1:
            return a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
        return len(diff) == 1 and not (a[diff[0]].isdigit() or b[diff[0]].isdigit())
    if abs(len(a) - len(b)) != 1:
        return False
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1:] == short and not long[i].isdigit() for i in range(len(long)))
