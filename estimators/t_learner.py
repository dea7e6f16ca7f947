"""EconML TLearner: one outcome model per arm; the CATE is the difference of their predictions.

With the default linear outcome model this is regression adjustment with every covariate
interacted with T. Bootstrap standard errors (estimators/metalearners.py).
"""

from __future__ import annotations

from estimators.metalearners import BootstrappedMetaLearner
from estimators.nuisance import outcome_model
from estimators.registry import register

__all__ = ["TLearner"]


@register
class TLearner(BootstrappedMetaLearner):
    name = "t_learner"
    summary = "EconML TLearner, one outcome model per arm"

    def _learner(self, seed: int):
        from econml.metalearners import TLearner as EconTLearner

        return EconTLearner(models=outcome_model(self.options.outcome_model, seed))
