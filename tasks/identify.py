"""Identification: which adjustment set (or other strategy) the graph licenses, found with DoWhy."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass

from tasks.graph import CausalGraph
from whyflow.errors import IdentificationError
from whyflow.spec import AnalysisSpec

__all__ = ["Identification", "identify_effect"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Identification:
    strategy: str
    backdoor: list[str] | None
    instruments: list[str]
    frontdoor: list[str] | None
    latent: list[str]
    estimand: str
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)


def identify_effect(graph: CausalGraph, spec: AnalysisSpec) -> Identification:
    """Back-door set with DoWhy's maximal adjustment; IV and front-door noted when the graph has them.

    DoWhy's default (exhaustive) back-door search grows exponentially with the number of
    covariates (11.7 s at 20 in shared/measurements); the maximal valid set is found in
    milliseconds and is what a careful analyst adjusts for anyway.
    """
    from dowhy.causal_identifier import BackdoorAdjustment, EstimandType, identify_effect_auto

    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DoWhy warns about every latent node, which we report ourselves
        estimand = identify_effect_auto(
            graph.dag,
            [spec.treatment],
            [spec.outcome],
            graph.observed,
            EstimandType.NONPARAMETRIC_ATE,
            backdoor_adjustment=BackdoorAdjustment.BACKDOOR_MAX,
        )
    seconds = time.perf_counter() - started
    backdoor_ok = estimand.estimands.get("backdoor") is not None
    backdoor = sorted(estimand.get_backdoor_variables()) if backdoor_ok else None
    instruments = sorted(estimand.instrumental_variables or [])
    frontdoor = sorted(estimand.frontdoor_variables) if estimand.frontdoor_variables else None
    if backdoor is None:
        remaining = [name for name, ok in (("instrumental variables", instruments), ("front-door", frontdoor)) if ok]
        hint = f"; strategies that remain: {', '.join(remaining)}" if remaining else ""
        blockers = f" (latent: {', '.join(graph.latent)})" if graph.latent else ""
        raise IdentificationError(
            f"analysis '{spec.name}': the effect of {spec.treatment!r} on {spec.outcome!r} is not identified by "
            f"back-door adjustment in graph {graph.source!r}{blockers}{hint}; whyflow estimates back-door effects"
        )
    expression = str(estimand.estimands["backdoor"]["estimand"])
    log.info("identified by back-door adjustment for %s in %.3f s", backdoor, seconds)
    return Identification(
        strategy="backdoor",
        backdoor=backdoor,
        instruments=instruments,
        frontdoor=frontdoor,
        latent=graph.latent,
        estimand=expression,
        seconds=seconds,
    )
