"""The decision step of a run: the spec's `decision:` block on the plan's CATE estimators."""

from __future__ import annotations

import logging
from dataclasses import replace

import pandas as pd

from estimators import registry
from estimators.base import CausalData
from tasks.decide.analysis import DecisionAnalysis, analyse_decision
from tasks.estimate.nuisance_choice import NuisanceChoice
from tasks.plan import AnalysisPlan
from whyflow.spec import AnalysisSpec

__all__ = ["decide_for_run"]

log = logging.getLogger(__name__)


def decide_for_run(data: CausalData, spec: AnalysisSpec, plan: AnalysisPlan, nuisance: NuisanceChoice | None,
                   frame: pd.DataFrame) -> DecisionAnalysis | None:
    """Who to treat and what it is worth, when the spec asks (a back-door design with a binary
    treatment: the doubly robust scores need a propensity). `frame` is the snapshot the data came from."""
    if spec.decision is None or plan.design != "backdoor" or data.treatment_type != "binary":
        return None
    analysed = frame.iloc[data.rows].reset_index(drop=True) if data.rows is not None else None
    cate = [name for name in plan.estimators if registry.get(name).gives_cate and not registry.get(name).streams]
    decision = spec.decision
    result = analyse_decision(data, estimators=cate, cost=decision.cost, value_per_outcome=decision.value_per_outcome,
                              budget_share=decision.budget_share,
                              features=decision.features or list(spec.effect_modifiers) or None, frame=analysed,
                              categorical=list(spec.categorical), estimator_options=plan.options,
                              nuisance=(nuisance.outcome, nuisance.propensity), seed=spec.seed)
    result = replace(result, wording={"action": f"set {spec.treatment} = 1 for", "units": "units", "outcome": spec.outcome})
    log.info("decision: %s", result.to_json()["recommendation"])
    return result
