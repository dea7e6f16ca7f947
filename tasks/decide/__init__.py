"""The decision layer: for whom does the treatment work, and should we roll it out.

Plain functions (no Prefect, no MLflow), all resting on cross-fitted doubly robust scores:
`doubly_robust_scores` -> `cross_fit_cate` (out-of-fold CATE of any estimator with effect(X)) ->
`validate_cate` (BLP, GATES, TOC/RATE) and `select_cate_model` (R-/DR-loss with the baselines) ->
`decide` (the recommended targeting rule, its value, ROI and per-row policy) and
`honest_effect_tree` (who responds). Plots in tasks.decide.plots. `analyse_decision` runs them all
for the flow and returns a `DecisionAnalysis` (JSON, metrics, plots).
"""

from tasks.decide.analysis import DecisionAnalysis, analyse_decision
from tasks.decide.features import DecisionFeatures, decision_features
from tasks.decide.oof import DRLearnerOnScores, cross_fit_cate
from tasks.decide.policy import METRIC_KEYS, DecisionReport, check_decision_inputs, decide
from tasks.decide.scores import DRScores, doubly_robust_scores
from tasks.decide.select import SELECTION_RULE, ModelSelection, select_cate_model
from tasks.decide.tree import EffectTree, honest_effect_tree
from tasks.decide.validate import CateValidation, Interval, validate_cate

__all__ = ["analyse_decision", "DecisionAnalysis", "DRScores", "doubly_robust_scores", "cross_fit_cate", "DRLearnerOnScores", "validate_cate",
           "CateValidation", "Interval", "select_cate_model", "ModelSelection", "SELECTION_RULE", "decide",
           "DecisionReport", "check_decision_inputs", "METRIC_KEYS", "honest_effect_tree", "EffectTree",
           "decision_features", "DecisionFeatures"]
