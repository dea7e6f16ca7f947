"""Simulated data-generating processes with known truth, for the estimator validation (tests, bench).

Each generator returns a `Simulated`: the frame, the true effects (population values, keyed by
estimand: 'ate', 'att', 'atc', 'late', 'late at cutoff', 'ate under homogeneity'), the roles as
params.yaml would declare them, and the causal graph in DOT (latent variables marked), so the same
draw can feed an estimator directly (`causal_data`) or a whole analysis.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy.special import expit

from estimators.base import CausalData

__all__ = ["Simulated", "DGPS", "causal_data", "linear_confounding", "nonlinear_confounding", "heterogeneous_effects",
           "instrument_unobserved_confounder", "sharp_discontinuity", "weak_overlap", "continuous_treatment",
           "frontdoor_mediator"]


@dataclass(frozen=True)
class Simulated:
    name: str
    frame: pd.DataFrame
    truth: dict[str, float]
    roles: dict[str, Any]  # spec keys: treatment, outcome, confounders, instruments, running_variable, ...
    graph: str  # DOT
    backdoor: bool = True  # does the graph (with positivity) identify the effect by adjustment?
    notes: str = field(default="")


def causal_data(sim: Simulated) -> CausalData:
    """The CausalData an analysis of these roles would build (adjustment = the declared confounders)."""
    r = sim.roles
    return CausalData.from_frame(
        sim.frame, treatment=r["treatment"], outcome=r["outcome"], adjustment=r.get("confounders", []),
        modifiers=r.get("effect_modifiers", []), segments=r.get("segments", []), categorical=r.get("categorical", []),
        treatment_type=r.get("treatment_type", "binary"), instruments=r.get("instruments", []),
        running_variable=r.get("running_variable"), cutoff=r.get("cutoff"), mediators=r.get("mediators", []),
        backdoor_identified=sim.backdoor,
    )


def _constant(effect: float, *extra: str) -> dict[str, float]:
    return {key: effect for key in ("ate", "att", "atc", *extra)}


_REGIONS = np.array(["north", "south", "east", "west", "centre"])
_REGION_SHIFT = np.array([-0.6, -0.2, 0.0, 0.3, 0.7])


def linear_confounding(n: int = 2000, seed: int = 0, effect: float = 2.0) -> Simulated:
    """Two continuous confounders and a five-level categorical one (a region fixed effect)."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=n), rng.normal(size=n)
    region = rng.integers(0, 5, n)
    t = rng.binomial(1, expit(0.6 * w1 - 0.4 * w2 + _REGION_SHIFT[region]))
    y = 1.0 + 1.5 * w1 + 1.0 * w2 + 2.0 * _REGION_SHIFT[region] + effect * t + rng.normal(size=n)
    frame = pd.DataFrame({"w1": w1, "w2": w2, "region": _REGIONS[region], "t": t, "y": y})
    roles = {"treatment": "t", "outcome": "y", "confounders": ["w1", "w2", "region"], "categorical": ["region"]}
    graph = "digraph { w1 -> t; w1 -> y; w2 -> t; w2 -> y; region -> t; region -> y; t -> y; }"
    return Simulated("linear_confounding", frame, _constant(effect), roles, graph)


def nonlinear_confounding(n: int = 2000, seed: int = 0, effect: float = 1.0) -> Simulated:
    """Propensity and outcome nonlinear in the confounders: a linear outcome model is misspecified."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=n), rng.normal(size=n)
    t = rng.binomial(1, expit(0.8 * w1 - 0.5 * w2 + 0.5 * w1 * w2))
    y = 2.0 * np.sin(1.5 * w1) + w2**2 + 0.5 * w1 * w2 + effect * t + rng.normal(size=n)
    frame = pd.DataFrame({"w1": w1, "w2": w2, "t": t, "y": y})
    roles = {"treatment": "t", "outcome": "y", "confounders": ["w1", "w2"]}
    graph = "digraph { w1 -> t; w1 -> y; w2 -> t; w2 -> y; t -> y; }"
    return Simulated("nonlinear_confounding", frame, _constant(effect), roles, graph)


_SEGMENTS = {"low": (0.5, 1.0, -0.5), "mid": (0.3, 2.0, 0.0), "high": (0.2, 4.0, 0.5)}  # share, effect, logit shift


def _segment_truth() -> dict[str, float]:
    """Population ATE/ATT/ATC: P(T=1 | segment) integrates the logistic over w ~ N(0,1) (Gauss-Hermite)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)
    weights = weights / weights.sum()
    share = np.array([s[0] for s in _SEGMENTS.values()])
    effect = np.array([s[1] for s in _SEGMENTS.values()])
    treated = np.array([weights @ expit(s[2] + 0.8 * nodes) for s in _SEGMENTS.values()])
    truth = {"ate": float(share @ effect), "att": float((share * treated) @ effect / (share @ treated)),
             "atc": float((share * (1 - treated)) @ effect / (share @ (1 - treated)))}
    truth.update({f"cate:{name}": s[1] for name, s in _SEGMENTS.items()})
    return truth


def heterogeneous_effects(n: int = 3000, seed: int = 0) -> Simulated:
    """Effect 1, 2 or 4 by segment; treatment more likely in high-effect segments, so ATT > ATE > ATC."""
    rng = np.random.default_rng(seed)
    names = list(_SEGMENTS)
    segment = rng.choice(len(names), size=n, p=[s[0] for s in _SEGMENTS.values()])
    shift = np.array([s[2] for s in _SEGMENTS.values()])[segment]
    effect = np.array([s[1] for s in _SEGMENTS.values()])[segment]
    w = rng.normal(size=n)
    t = rng.binomial(1, expit(shift + 0.8 * w))
    y = 1.0 + 2.0 * shift + 1.0 * w + effect * t + rng.normal(size=n)
    frame = pd.DataFrame({"w": w, "segment": np.array(names)[segment], "t": t, "y": y})
    roles = {"treatment": "t", "outcome": "y", "confounders": ["w", "segment"], "effect_modifiers": ["segment"],
             "segments": ["segment"], "categorical": ["segment"]}
    graph = "digraph { w -> t; w -> y; segment -> t; segment -> y; t -> y; }"
    return Simulated("heterogeneous_effects", frame, _segment_truth(), roles, graph)


def instrument_unobserved_confounder(n: int = 3000, seed: int = 0, effect: float = 2.0, strength: float = 1.0,
                                     continuous: bool = False) -> Simulated:
    """A binary instrument, a latent confounder of T and Y, a constant effect (LATE = ATE).
    `strength` scales the instrument's pull on the treatment (0.05 gives a weak first stage)."""
    rng = np.random.default_rng(seed)
    u, w = rng.normal(size=n), rng.normal(size=n)
    z = rng.binomial(1, 0.5, n)
    index = strength * z + 0.8 * u + 0.5 * w + rng.normal(size=n)
    t = index if continuous else (index > 0.5).astype(int)
    y = effect * t + 1.0 * u + 0.5 * w + rng.normal(size=n)
    frame = pd.DataFrame({"z": z, "w": w, "t": t, "y": y})
    roles = {"treatment": "t", "outcome": "y", "confounders": ["w"], "instruments": ["z"],
             "treatment_type": "continuous" if continuous else "binary"}
    graph = "digraph { u [latent=true]; u -> t; u -> y; w -> t; w -> y; z -> t; t -> y; }"
    return Simulated("instrument_unobserved_confounder", frame,
                     _constant(effect, "late", "ate under homogeneity"), roles, graph, backdoor=False)


def sharp_discontinuity(n: int = 2000, seed: int = 0, jump: float = 2.0, cutoff: float = 0.0) -> Simulated:
    """Treatment on at R >= cutoff, outcome smooth and curved in R plus the jump."""
    rng = np.random.default_rng(seed)
    r = cutoff + rng.uniform(-1.0, 1.0, n)
    x = r - cutoff
    t = (x >= 0).astype(int)
    y = 0.5 + 1.0 * x - 0.8 * x**2 + 0.3 * np.sin(3 * x) + jump * t + rng.normal(0.0, 0.5, n)
    frame = pd.DataFrame({"score": r, "t": t, "y": y})
    roles = {"treatment": "t", "outcome": "y", "confounders": [], "running_variable": "score", "cutoff": cutoff}
    graph = "digraph { score -> t; score -> y; t -> y; }"
    # No overlap at any score, so adjustment for the score is not identified off the cutoff.
    return Simulated("sharp_discontinuity", frame, {"late at cutoff": jump, "ate": jump}, roles, graph,
                     backdoor=False)


def weak_overlap(n: int = 2000, seed: int = 0, effect: float = 1.0) -> Simulated:
    """Propensity logit 2.5 w: many scores beyond 0.02 / 0.98, so inverse weights explode."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=n)
    t = rng.binomial(1, expit(2.5 * w))
    y = 1.0 + 1.5 * w + effect * t + rng.normal(size=n)
    frame = pd.DataFrame({"w": w, "t": t, "y": y})
    roles = {"treatment": "t", "outcome": "y", "confounders": ["w"]}
    return Simulated("weak_overlap", frame, _constant(effect), roles, "digraph { w -> t; w -> y; t -> y; }")


def continuous_treatment(n: int = 2000, seed: int = 0, effect: float = 1.5) -> Simulated:
    """A dose confounded by two covariates and a region; the marginal effect per unit is constant."""
    rng = np.random.default_rng(seed)
    w1, w2 = rng.normal(size=n), rng.normal(size=n)
    region = rng.integers(0, 5, n)
    t = 0.5 * w1 - 0.3 * w2 + _REGION_SHIFT[region] + rng.normal(size=n)
    y = effect * t + 1.0 * w1 + 0.5 * w2 + 1.5 * _REGION_SHIFT[region] + rng.normal(size=n)
    frame = pd.DataFrame({"w1": w1, "w2": w2, "region": _REGIONS[region], "t": t, "y": y})
    roles = {"treatment": "t", "outcome": "y", "confounders": ["w1", "w2", "region"], "categorical": ["region"],
             "treatment_type": "continuous"}
    graph = "digraph { w1 -> t; w1 -> y; w2 -> t; w2 -> y; region -> t; region -> y; t -> y; }"
    return Simulated("continuous_treatment", frame, _constant(effect), roles, graph)


def frontdoor_mediator(n: int = 2000, seed: int = 0, a: float = 1.5, b: float = 0.8) -> Simulated:
    """T -> M -> Y with a latent confounder of T and Y: identified by the front-door set {m} only."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=n)
    t = (u + rng.normal(size=n) > 0).astype(int)
    m = a * t + rng.normal(size=n)
    y = b * m + 2.0 * u + rng.normal(size=n)
    frame = pd.DataFrame({"t": t, "m": m, "y": y})
    roles = {"treatment": "t", "outcome": "y", "mediators": ["m"]}
    graph = "digraph { u [latent=true]; u -> t; u -> y; t -> m; m -> y; }"
    return Simulated("frontdoor_mediator", frame, _constant(a * b), roles, graph, backdoor=False)


DGPS: dict[str, Callable[..., Simulated]] = {
    "linear_confounding": linear_confounding,
    "nonlinear_confounding": nonlinear_confounding,
    "heterogeneous_effects": heterogeneous_effects,
    "instrument_unobserved_confounder": instrument_unobserved_confounder,
    "sharp_discontinuity": sharp_discontinuity,
    "weak_overlap": weak_overlap,
    "continuous_treatment": continuous_treatment,
    "frontdoor_mediator": frontdoor_mediator,
}
