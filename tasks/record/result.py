"""The typed result of one run. `to_json()` is the one place it becomes the results payload that the
results files, MLflow metrics, report and CLI read (shared/DESIGN.md's names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from estimators.base import Estimate
from tasks.data.prepare import Preparation
from tasks.data.quality import QualityReport
from tasks.decide.analysis import DecisionAnalysis
from tasks.estimate.answer import Answer
from tasks.estimate.nuisance_choice import NuisanceChoice
from tasks.evidence.overlap import OverlapReport
from tasks.evidence.refute import Refutation, survivors
from tasks.evidence.sensitivity import SensitivityReport
from tasks.graph.implications import GraphTestReport
from tasks.identify.effect import Identification
from tasks.mediation.analyse import MediationReport
from tasks.record.files import to_jsonable

__all__ = ["RunResult"]


@dataclass(frozen=True)
class RunResult:
    analysis: str
    versions: dict[str, Any]
    spec: dict[str, Any]  # the validated spec's content
    quality: QualityReport
    identification: Identification
    estimates: list[Estimate]
    naive: Estimate
    selection: dict  # which estimators ran and why (tasks/plan.py)
    truth: dict | None = None  # the generator's truth, for simulated data
    cate_by_segment: dict = field(default_factory=dict)
    overlap: OverlapReport | None = None
    refutations: list[Refutation] = field(default_factory=list)
    graph_tests: GraphTestReport | None = None
    agreement: dict | None = None  # pairwise z of the estimates (tasks/estimate/agreement.py)
    sensitivity: SensitivityReport | None = None  # E-values, Cinelli-Hazlett
    nuisance: NuisanceChoice | None = None  # the nuisance models and the losses that chose them
    warnings: list[str] = field(default_factory=list)  # gates left at their defaults that failed, with remedies
    answer: Answer | None = None  # the headline estimate (tasks/estimate/answer.py)
    decision: DecisionAnalysis | None = None  # whom to treat, its value and ROI (tasks/decide/)
    preparation: Preparation | None = None  # what whyflow did to the data (tasks/data/prepare.py)
    mediation: MediationReport | None = None  # direct and indirect effects (tasks/mediation/)

    @property
    def survivors(self) -> list[str]:
        return survivors(self.estimates, self.refutations)

    def to_json(self) -> dict[str, Any]:
        return to_jsonable({
            "analysis": self.analysis, "versions": self.versions, "spec": dict(self.spec),
            "estimates": [e.to_json() for e in self.estimates], "naive": self.naive.to_json(), "truth": self.truth,
            "cate_by_segment": self.cate_by_segment,
            "quality": self.quality.to_json() | {"validation": None,
                                                 "preparation": self.preparation.to_json() if self.preparation else None},
            "identification": self.identification.to_json(),
            "overlap": self.overlap.to_json() if self.overlap else None,
            "refutations": [r.to_json() for r in self.refutations], "survivors": self.survivors,
            "graph_tests": self.graph_tests.to_json() if self.graph_tests else None,
            "selection": self.selection, "agreement": self.agreement,
            "sensitivity": self.sensitivity.to_json() if self.sensitivity else None,
            "nuisance": self.nuisance.to_json() if self.nuisance else None,
            "warnings": list(self.warnings),
            "answer": self.answer.to_json() if self.answer else None,
            "decision": self.decision.to_json() if self.decision else None,
            "mediation": self.mediation.to_json() if self.mediation else None,
        })
