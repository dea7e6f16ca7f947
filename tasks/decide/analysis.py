"""The decision step in one call, for the flow: scores, out-of-fold CATE of the spec's CATE
estimators, their validation and selection, the recommended rule, its JSON, metrics and plots.

A CATE estimator that cannot predict effect(X) or does not apply is recorded with its reason and
left out; the others still run (DESIGN.md: nothing lost). Only the selected CATE model (the rule in
tasks/decide/select.py) may drive a thresholded-CATE rule: when no model beats the constant effect,
the decision rests on the ATE, a policy tree valued out of fold, or treating no one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from estimators.base import CausalData, NotApplicable
from tasks.decide.oof import cross_fit_cate
from tasks.decide.plots import gates_plot, targeting_curves_plot, who_responds_plot
from tasks.decide.policy import DecisionReport, check_decision_inputs, decide
from tasks.decide.scores import DRScores, doubly_robust_scores
from tasks.decide.select import ModelSelection, select_cate_model
from tasks.decide.validate import CateValidation, validate_cate

__all__ = ["DecisionAnalysis", "analyse_decision"]


@dataclass(frozen=True)
class DecisionAnalysis:
    """Everything the decision step found; `report` is what decision.json and policy.parquet hold."""

    scores: DRScores = field(repr=False)
    cate_oof: dict[str, np.ndarray] = field(repr=False)
    failed: dict[str, str]
    validation: dict[str, CateValidation]
    selection: ModelSelection | None
    report: DecisionReport
    wording: dict[str, str] = field(default_factory=dict)  # describe()'s action, units and outcome

    def to_json(self) -> dict[str, Any]:
        """decision.json: the report's keys (value, baselines, share_treated, roi, policy, ...) plus the
        CATE validation and model selection behind it."""
        return {**self.report.to_json(), "recommendation": self.report.describe(**self.wording),
                "cate_validation": {name: v.to_json() for name, v in self.validation.items()},
                "model_selection": None if self.selection is None else self.selection.to_json(),
                "cate_models_failed": self.failed}

    def metrics(self) -> dict[str, float]:
        return self.report.metrics()

    def write_plots(self, directory: Path, *, outcome: str = "effect") -> list[Path]:
        """decision_gates_<model>.png, decision_targeting_<model>.png and decision_who_responds.png."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, result in self.validation.items():
            paths.append(gates_plot(result.gates, directory / f"decision_gates_{name}.png", ate=self.scores.ate,
                                    title=f"Effect by predicted-effect group ({name})"))
            paths.append(targeting_curves_plot(result.rate["curve"], directory / f"decision_targeting_{name}.png",
                                               title=f"Targeting by {name}'s predicted effect"))
        if self.report.effect_tree is not None:
            cost = self.report.cost_per_unit / self.report.value_per_outcome
            paths.append(who_responds_plot(self.report.effect_tree, directory / "decision_who_responds.png",
                                           cost=cost, outcome=outcome))
        return paths


def analyse_decision(data: CausalData, *, estimators: list[str | type] = (), cost: float | np.ndarray = 0.0,
                     value_per_outcome: float = 1.0, budget_share: float | None = None,
                     features: list[str] | None = None, frame: pd.DataFrame | None = None,
                     categorical: list[str] = (), estimator_options: dict[str, dict] | None = None,
                     nuisance: str | tuple[str, str] = "linear", max_depth: int = 2, folds: int = 5,
                     bootstrap: int = 200, seed: int = 0) -> DecisionAnalysis:
    """Run the decision layer on the analysed data. `frame` (the analysed rows, in CausalData's row
    order) lets features be any of its columns and says level sets as "in {...}"; without it the
    features are the data's modifiers or covariates. The spec's `decision:` block maps to cost,
    value_per_outcome, budget_share and features."""
    check_decision_inputs(cost, value_per_outcome, budget_share, data.n)  # before any fitting
    if frame is not None and len(frame) != data.n:
        raise ValueError(f"`frame` must hold the {data.n} analysed rows; got {len(frame)}")
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(4)]
    scores = doubly_robust_scores(data, folds=folds, seed=seeds[0], nuisance=nuisance)
    cate_oof, failed = {}, {}
    for estimator in estimators:
        name = estimator if isinstance(estimator, str) else getattr(estimator, "name", estimator.__name__)
        options = (estimator_options or {}).get(name, {})
        try:
            cate_oof[name] = cross_fit_cate(estimator, data, folds=folds, seed=seeds[1], options=options)
        except (NotApplicable, ValueError) as exc:  # recorded with its reason; the other models still run
            failed[name] = str(exc)
    validation = validate_cate(scores, cate_oof, bootstrap=bootstrap, seed=seeds[2]) if cate_oof else {}
    selection = select_cate_model(scores, cate_oof, folds=folds, seed=seeds[2]) if cate_oof else None
    chosen = {} if selection is None or selection.chosen is None else {selection.chosen: cate_oof[selection.chosen]}
    report = decide(data if frame is None else frame, cate_oof=chosen, scores=scores, cost=cost,
                    value_per_outcome=value_per_outcome, budget_share=budget_share, features=features,
                    categorical=categorical, max_depth=max_depth, folds=folds, seed=seeds[3])
    return DecisionAnalysis(scores, cate_oof, failed, validation, selection, report)
