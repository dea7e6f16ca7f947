"""The identification report: every strategy the graph licenses for one effect, with its assumptions.

Back-door (the full and the minimal observed adjustment set), front-door, instrumental variables and,
when a running variable is declared, regression discontinuity; when latent variables block the back
door, the report names them and the strategies that remain. All searches are d-separation based
(tasks/strategies.py): at most 0.06 s on a 200-node graph (bench/results/identify.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from tasks.graph.model import CausalGraph, check_roles
from tasks.identify.effect import adjustment_sets
from tasks.identify.strategies import Instrument, find_frontdoor, find_instruments, latent_blockers, rdd_status
from whyflow.errors import GraphError

__all__ = ["Strategy", "IdentificationReport", "identification_report", "without_instruments", "ASSUMPTIONS"]

BACKDOOR, FRONTDOOR, IV, RDD = "back-door", "front-door", "instrumental variables", "regression discontinuity"

ASSUMPTIONS = {
    BACKDOOR: (
        "conditional exchangeability: the adjustment set blocks every back-door path from treatment to outcome "
        "(no unobserved confounder outside the graph)",
        "positivity: every stratum of the adjustment set has treated and untreated units",
        "the adjustment set holds no descendant of the treatment",
        "consistency and no interference between units (SUTVA)",
    ),
    FRONTDOOR: (
        "the mediators intercept every directed path from treatment to outcome",
        "no open back-door path from the treatment to the mediators",
        "the treatment blocks every back-door path from the mediators to the outcome",
        "positivity: every treatment level has every mediator value with positive probability",
    ),
    IV: (
        "relevance: the instrument moves the treatment (checked on data by the first-stage F statistic)",
        "exclusion: the instrument affects the outcome only through the treatment",
        "independence: no open path between instrument and outcome except through the treatment, given the "
        "instrument's conditioning set",
        "monotonicity (no defiers) for a local average effect, or effect homogeneity for an average effect",
    ),
    RDD: (
        "the probability of treatment jumps at the cutoff of the running variable",
        "continuity: the potential outcomes are continuous in the running variable at the cutoff "
        "(nothing else that affects the outcome jumps there)",
        "no precise manipulation of the running variable around the cutoff (continuous density)",
        "the effect is local: it holds for units at the cutoff",
    ),
}


@dataclass(frozen=True)
class Strategy:
    name: str
    identified: bool
    variables: tuple[str, ...]
    note: str
    assumptions: tuple[str, ...]


@dataclass(frozen=True)
class IdentificationReport:
    """What the graph identifies for treatment -> outcome; `to_json()` is the DESIGN.md contract."""

    treatment: str
    outcome: str
    graph: str
    graph_sha256: str
    latent: tuple[str, ...]
    backdoor_all_observed: tuple[str, ...] | None
    backdoor_minimal: tuple[str, ...] | None
    backdoor_blocked_by: tuple[str, ...]
    frontdoor: tuple[str, ...] | None
    instruments: tuple[Instrument, ...]
    rdd: tuple[bool, str]
    running_variable: str | None = None
    cutoff: float | None = None
    seconds: float = 0.0
    strategies: tuple[Strategy, ...] = field(default=())

    @property
    def identified(self) -> list[str]:
        """Names of the strategies that identify the effect."""
        return [s.name for s in self.strategies if s.identified]

    @property
    def remaining(self) -> list[str]:
        """The identifying strategies other than back-door adjustment."""
        return [name for name in self.identified if name != BACKDOOR]

    def to_json(self) -> dict:
        """{"backdoor": {"minimal", "all_observed"}, "frontdoor", "instruments", "seconds"} (DESIGN.md)."""
        listed = (lambda v: None if v is None else list(v))
        return {"backdoor": {"minimal": listed(self.backdoor_minimal),
                             "all_observed": listed(self.backdoor_all_observed)},
                "frontdoor": listed(self.frontdoor), "instruments": [i.name for i in self.instruments],
                "seconds": self.seconds}

    def details(self) -> dict:
        """Everything in the report as JSON data (for artifacts and machines that want more)."""
        return {**self.to_json(), "treatment": self.treatment, "outcome": self.outcome, "graph": self.graph,
                "graph_sha256": self.graph_sha256, "latent": list(self.latent),
                "backdoor_blocked_by": list(self.backdoor_blocked_by),
                "instrument_conditioning": {i.name: list(i.conditioning) for i in self.instruments},
                "running_variable": self.running_variable, "cutoff": self.cutoff,
                "strategies": [{"name": s.name, "identified": s.identified, "variables": list(s.variables),
                                "note": s.note, "assumptions": list(s.assumptions)} for s in self.strategies]}


def _strategies(report: IdentificationReport) -> tuple[Strategy, ...]:
    if report.backdoor_all_observed is not None:
        minimal = ", ".join(report.backdoor_minimal or []) or "the empty set"
        backdoor = Strategy(BACKDOOR, True, report.backdoor_all_observed,
                            f"adjust for the observed causes of the outcome; a minimal set is {{{minimal}}}",
                            ASSUMPTIONS[BACKDOOR])
    else:
        why = (f"latent {', '.join(report.backdoor_blocked_by)} keeps a back-door path open"
               if report.backdoor_blocked_by else "no set of observed variables blocks every back-door path")
        backdoor = Strategy(BACKDOOR, False, (), why, ASSUMPTIONS[BACKDOOR])
    frontdoor = Strategy(FRONTDOOR, report.frontdoor is not None, report.frontdoor or (),
                         "mediators that carry the whole effect and are unconfounded with the treatment"
                         if report.frontdoor else "no observed mediator set meets the front-door criterion",
                         ASSUMPTIONS[FRONTDOOR])
    given = [f"{i.name} given {{{', '.join(i.conditioning)}}}" for i in report.instruments if i.conditioning]
    note = (("conditional instruments: " + "; ".join(given)) if given else
            "unconditional instruments" if report.instruments else "no variable meets the instrument conditions")
    iv = Strategy(IV, bool(report.instruments), tuple(i.name for i in report.instruments), note, ASSUMPTIONS[IV])
    applies, why = report.rdd
    rdd = Strategy(RDD, applies, (report.running_variable,) if applies else (),
                   f"{why} at {report.cutoff:g}" if applies and report.cutoff is not None else why, ASSUMPTIONS[RDD])
    return backdoor, frontdoor, iv, rdd


def identification_report(graph: CausalGraph, treatment: str, outcome: str, running_variable: str | None = None,
                          cutoff: float | None = None) -> IdentificationReport:
    """Every identification strategy for treatment -> outcome in the graph, found by d-separation."""
    if treatment == outcome:
        raise GraphError(f"treatment and outcome must differ; both are {treatment!r}")
    check_roles(graph, treatment=treatment, outcome=outcome)
    started = time.perf_counter()
    dag = graph.dag
    full, minimal = adjustment_sets(dag, treatment, outcome)
    blocked_by = latent_blockers(dag, treatment, outcome) if full is None else []
    frontdoor = find_frontdoor(dag, treatment, outcome)
    instruments = find_instruments(dag, treatment, outcome)
    rdd = rdd_status(dag, treatment, running_variable)
    seconds = time.perf_counter() - started
    as_tuple = (lambda v: None if v is None else tuple(v))
    report = IdentificationReport(
        treatment=treatment, outcome=outcome, graph=graph.source, graph_sha256=graph.sha256,
        latent=tuple(graph.latent), backdoor_all_observed=as_tuple(full), backdoor_minimal=as_tuple(minimal),
        backdoor_blocked_by=tuple(blocked_by), frontdoor=as_tuple(frontdoor), instruments=tuple(instruments),
        rdd=rdd, running_variable=running_variable, cutoff=cutoff, seconds=seconds)
    return replace(report, strategies=_strategies(report))


def without_instruments(report: IdentificationReport, names: set[str] | list[str]) -> IdentificationReport:
    """The report with these variables no longer counted as instruments (e.g. suspected typos)."""
    kept = tuple(i for i in report.instruments if i.name not in set(names))
    trimmed = replace(report, instruments=kept)
    return replace(trimmed, strategies=_strategies(trimmed))
