"""EconML SparseLinearDML: DML whose final CATE stage is a debiased lasso (van de Geer et al. 2014).

For many effect modifiers (one-hot levels of high-cardinality categories): the lasso keeps the CATE
model sparse and the debiasing keeps its coefficient intervals valid. Same nuisances, ATE inference
and X/W split as linear_dml. Options: cv (folds, default 5), alpha (lasso penalty, default 'auto':
EconML's cross-validated choice), outcome_model, propensity_model.
"""

from __future__ import annotations

from estimators.linear_dml import LinearDML
from estimators.nuisance import NUISANCE_OPTIONS, check_nuisance, nuisance_choice, outcome_model, treatment_model
from estimators.option_checks import check_int
from estimators.registry import register

__all__ = ["SparseLinearDML"]


@register
class SparseLinearDML(LinearDML):
    name = "sparse_linear_dml"
    summary = "EconML SparseLinearDML (debiased-lasso CATE), linear nuisances, 5-fold cross-fitting"
    options_doc = {"cv": "cross-fitting folds (default 5)",
                   "alpha": "lasso penalty of the final stage: 'auto' (cross-validated, default) or a number > 0",
                   **NUISANCE_OPTIONS}

    @classmethod
    def _check_option_values(cls, options: dict) -> None:
        check_int(options, "cv", 2, 20)
        check_nuisance(options)
        alpha = options.get("alpha", "auto")
        if alpha != "auto" and not (isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and alpha > 0):
            raise ValueError(f"`alpha` must be 'auto' or a number > 0; got {alpha!r}")

    def _econml_model(self, binary: bool):
        from econml.dml import SparseLinearDML as EconSparseLinearDML

        outcome, propensity = nuisance_choice(self.options)
        return EconSparseLinearDML(model_y=outcome_model(outcome, self.seed),
                                   model_t=treatment_model(propensity, self.seed, binary),
                                   discrete_treatment=binary, cv=int(self.options.get("cv", 5)),
                                   alpha=self.options.get("alpha", "auto"), random_state=self.seed)
