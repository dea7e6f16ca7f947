"""The mediation step of a run: the spec's `mediators`, identified from the drawn graph (or assumed
given the `confounders:` list, which draws no mediator), estimated on the analysed data."""

from __future__ import annotations

import logging

import pandas as pd

from tasks.estimate.nuisance_choice import NuisanceChoice
from tasks.graph.model import CausalGraph
from tasks.mediation.analyse import MediationReport, analyse_mediation
from whyflow.spec import AnalysisSpec

__all__ = ["mediate_for_run"]

log = logging.getLogger(__name__)


def mediate_for_run(frame: pd.DataFrame, spec: AnalysisSpec, graph: CausalGraph,
                    nuisance: NuisanceChoice | None) -> MediationReport | None:
    """NDE, NIE and the total effect through `spec.mediators` (binary treatment), or None when none
    are declared. Flexible nuisances when the run chose LightGBM for the outcome."""
    if not spec.mediators or spec.treatment_type != "binary":
        return None
    drawn = spec.graph is not None
    report = analyse_mediation(frame, treatment=spec.treatment, outcome=spec.outcome, mediators=spec.mediators,
                               confounders=None if drawn else list(spec.confounders or []),
                               categorical=list(spec.categorical), seed=spec.seed, graph=graph if drawn else None,
                               nuisance="lightgbm" if nuisance and nuisance.outcome == "lightgbm" else "linear")
    log.info("mediation through %s: %s", ", ".join(spec.mediators), report.identification.reason)
    return report
