"""EconML SparseLinearDML: DML whose final CATE stage is a debiased lasso (van de Geer et al. 2014).

For many effect modifiers (one-hot levels of high-cardinality categories): the lasso keeps the CATE
model sparse and the debiasing keeps its coefficient intervals valid. Same nuisances, ATE inference
and X/W split as linear_dml. Options: cv (folds, default 5), alpha (lasso penalty, default 'auto':
EconML's cross-validated choice), outcome_model, propensity_model.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from estimators.linear_dml import LinearDML
from estimators.nuisance import outcome_model, treatment_model
from estimators.options import auto_or_positive
from estimators.registry import register

__all__ = ["SparseLinearDML"]


@register
class SparseLinearDML(LinearDML):
    name = "sparse_linear_dml"
    summary = "EconML SparseLinearDML (debiased-lasso CATE), linear nuisances, 5-fold cross-fitting"

    class Options(LinearDML.Options):
        alpha: Annotated[str | float, auto_or_positive()] = Field(
            "auto", description="lasso penalty of the final stage: 'auto' (cross-validated) or a number > 0")

    def _econml_model(self, binary: bool):
        from econml.dml import SparseLinearDML as EconSparseLinearDML

        outcome, propensity = self.options.outcome_model, self.options.propensity_model
        return EconSparseLinearDML(model_y=outcome_model(outcome, self.seed),
                                   model_t=treatment_model(propensity, self.seed, binary),
                                   discrete_treatment=binary, cv=self.options.cv,
                                   alpha=self.options.alpha, random_state=self.seed)
