"""Mediation analysis: how much of a treatment's effect runs through mediators (natural direct and
indirect effects), identified from the graph, estimated two ways, with a sensitivity analysis."""

from tasks.mediation.analyse import ESTIMATORS, MediationReport, analyse_mediation, mediation_metrics
from tasks.mediation.effects import Decomposition, Effect
from tasks.mediation.identify import MediationIdentification, identify_mediation
from tasks.mediation.plot import plot_mediation

__all__ = ["analyse_mediation", "MediationReport", "mediation_metrics", "ESTIMATORS", "identify_mediation",
           "MediationIdentification", "Effect", "Decomposition", "plot_mediation"]
