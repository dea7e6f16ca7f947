"""Attribution of a change B - A to factors swapped from A's versions to B's (Shapley 1953).

v(S) is the estimate replayed with the factors in S taken from run B and the others from run A, so
v(empty) = A and v(all) = B. Definitions, for factors N = {data, graph, params, code}:

- Shapley share of i: phi_i = sum over S in N minus {i} of |S|! (n-|S|-1)! / n! * (v(S + i) - v(S)), the
  average of i's marginal effect over every order of swapping; the shares sum to v(N) - v(empty)
  exactly (efficiency), a factor that never changes v gets 0 (null player), and two factors that
  enter v symmetrically get equal shares (symmetry).
- First-order effect of i: v({i}) - v(empty), swapping i alone from A's versions.
- Residual interaction: (B - A) - sum of the first-order effects: the part of the move no factor
  explains alone. Pairwise interaction of i, j: v({i,j}) - v({i}) - v({j}) + v(empty).
- Sequential (fallback when some v(S) could not be replayed): swap the factors one by one in a stated
  order; each factor gets the change its swap made. These also sum to B - A, but depend on the order.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field

__all__ = ["FACTORS", "DEFAULT_ORDER", "Attribution", "shapley_shares", "first_order", "pairwise", "sequential",
           "attribute", "subset_label"]

FACTORS = ("data", "graph", "params", "code")
DEFAULT_ORDER = FACTORS  # the stated sequential order: data, then graph, then params, then code


def subset_label(subset: frozenset[str], factors: tuple[str, ...] = FACTORS) -> str:
    """'data+params' for the factors taken from B; 'A' for none, 'B' for all."""
    if not subset:
        return "A"
    if len(subset) == len(factors):
        return "B"
    return "+".join(f for f in factors if f in subset)


@dataclass(frozen=True)
class Attribution:
    """The move B - A of one estimate split over the factors."""

    a: float
    b: float
    method: str  # "shapley" or "sequential"
    shares: dict[str, float]
    first_order: dict[str, float] | None = None
    residual_interaction: float | None = None
    pairwise: dict[str, float] | None = None
    order: list[str] | None = None  # the sequential order, when method is "sequential"
    missing: list[str] = field(default_factory=list)  # combinations that could not be replayed
    note: str = ""

    @property
    def change(self) -> float:
        return self.b - self.a

    def to_json(self) -> dict:
        return asdict(self) | {"change": self.change}


def _exact_sum_fix(shares: dict[str, float], total: float) -> dict[str, float]:
    """Floating-point sums drift by ~1e-15 per term; put the (tiny) remainder on the largest share so
    the shares add up to B - A as computed."""
    drift = total - math.fsum(shares.values())
    if drift and shares:
        biggest = max(shares, key=lambda k: abs(shares[k]))
        shares = dict(shares) | {biggest: shares[biggest] + drift}
    return shares


def shapley_shares(values: dict[frozenset[str], float], factors: tuple[str, ...] = FACTORS) -> dict[str, float]:
    """Exact Shapley values from v(S) for every subset S of the factors."""
    n = len(factors)
    shares = {}
    for i in factors:
        others = [f for f in factors if f != i]
        terms = []
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                s = frozenset(subset)
                terms.append(weight * (values[s | {i}] - values[s]))
        shares[i] = math.fsum(terms)
    return _exact_sum_fix(shares, values[frozenset(factors)] - values[frozenset()])


def first_order(values: dict[frozenset[str], float], factors: tuple[str, ...] = FACTORS) -> dict[str, float]:
    base = values[frozenset()]
    return {i: values[frozenset({i})] - base for i in factors}


def pairwise(values: dict[frozenset[str], float], factors: tuple[str, ...] = FACTORS) -> dict[str, float]:
    base = values[frozenset()]
    return {f"{i}:{j}": values[frozenset({i, j})] - values[frozenset({i})] - values[frozenset({j})] + base
            for i, j in itertools.combinations(factors, 2)}


def sequential(values: dict[frozenset[str], float], order: tuple[str, ...]) -> dict[str, float]:
    """Each factor's change when swapped in `order` (A -> ... -> B)."""
    shares, taken = {}, frozenset()
    for factor in order:
        shares[factor] = values[taken | {factor}] - values[taken]
        taken = taken | {factor}
    return shares


def _orders(preferred: tuple[str, ...]) -> list[tuple[str, ...]]:
    rest = [p for p in itertools.permutations(preferred) if p != preferred]
    return [preferred, *rest]


def attribute(values: dict[frozenset[str], float | None], factors: tuple[str, ...] = FACTORS,
              order: tuple[str, ...] = DEFAULT_ORDER) -> Attribution:
    """Shapley shares when every combination has a value; else the sequential fallback in `order` (or
    the first other order whose path was replayed). v(empty) and v(all) must be known."""
    a, b = values.get(frozenset()), values.get(frozenset(factors))
    if a is None or b is None:
        raise ValueError("the two corners A and B must have values")
    missing = [subset_label(s, factors) for s in _subsets(factors) if values.get(s) is None]
    if not missing:
        known = {s: float(v) for s, v in values.items() if v is not None}
        firsts = first_order(known, factors)
        return Attribution(a=a, b=b, method="shapley", shares=shapley_shares(known, factors), first_order=firsts,
                           residual_interaction=(b - a) - math.fsum(firsts.values()),
                           pairwise=pairwise(known, factors) if len(factors) >= 2 else {})
    for candidate in _orders(order):
        path, taken = [frozenset()], frozenset()
        for factor in candidate:
            taken = taken | {factor}
            path.append(taken)
        if all(values.get(s) is not None for s in path):
            shares = _exact_sum_fix(sequential(values, candidate), b - a)  # type: ignore[arg-type]
            note = (f"{len(missing)} combination(s) could not be replayed ({', '.join(missing)}): sequential "
                    f"attribution in the order {' -> '.join(candidate)}" +
                    ("" if candidate == order else f" (the stated order {' -> '.join(order)} was not replayable)"))
            return Attribution(a=a, b=b, method="sequential", shares=shares, order=list(candidate), missing=missing,
                               note=note)
    raise ValueError(f"no order of swapping the factors could be replayed; missing: {', '.join(missing)}")


def _subsets(factors: tuple[str, ...]) -> list[frozenset[str]]:
    return [frozenset(c) for size in range(len(factors) + 1) for c in itertools.combinations(factors, size)]
