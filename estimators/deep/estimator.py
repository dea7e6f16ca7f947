"""What every deep registry estimator shares: the training options, the ensemble's description, the
JAX-availability check and the training curves' shape. Nothing heavy is imported here.

Curves: `estimate.details["training"]["curves"]` is a plain dict, one entry per ensemble member keyed
by its index as text, each with one float per epoch (step = epoch, 0-based; None where a member's loss
was not finite): {"0": {"train_loss": [...], "val_loss": [...]}, "1": {...}, ...}. DCN-PD's epochs are
half-epochs (treated rows, then control rows); it validates once per treated + control cycle, so its
val_loss is None at the treated half-epochs.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from estimators.base import CausalData, Estimator, NotApplicable
from estimators.deep.runtime import DEEP_EXTRA_HINT, deep_available
from estimators.options import EstimatorOptions, integer, number

__all__ = ["DeepOptions", "DeepEstimator", "ENSEMBLE", "settings_of", "spread", "training_details", "AUTO_MEMBERS",
           "members_for"]

# `members: 0` (the default): 10 bootstrap members up to this many rows, one network above. The interval
# is doubly robust (influence function), so it does not need the ensemble; on large data the ensemble
# costs ~15x one network (DragonNet, 124,300 rows: 295 against 20 CPU s, bench/results/deep-speed.md).
AUTO_MEMBERS = (20_000, 10)

ENSEMBLE = ("an ensemble of {m} members, each on a bootstrap resample{strata} with its own seed and early-stopped "
            "on its out-of-bag rows")


class DeepOptions(EstimatorOptions):
    """Training options every deep estimator takes."""

    members: Annotated[int, integer(0, 200)] = Field(0, description="ensemble members (bootstrap resamples); "
                                                                   "1 trains once on a random 70/30 split; 0 = 10 up "
                                                                   "to 20,000 rows, 1 above")
    max_epochs: Annotated[int, integer(1, 100_000)] = Field(300, description="epochs at most")
    patience: Annotated[int, integer(1, 10_000)] = Field(20, description="epochs without a better validation loss "
                                                                        "before a member stops")
    batch_size: Annotated[int, integer(0)] = Field(0, description="minibatch rows; 0 = 64, or 256 above 6,400 "
                                                                  "training rows")
    learning_rate: Annotated[float, number(0.0, 1.0)] = Field(1e-3, description="Adam learning rate")
    weight_decay: Annotated[float, number(0.0, 1.0, open_low=False)] = Field(1e-4, description="decoupled weight "
                                                                                              "decay (AdamW)")


def settings_of(options: DeepOptions):
    from estimators.deep.train import TrainSettings

    return TrainSettings(options.max_epochs, options.patience, options.batch_size, options.learning_rate,
                         options.weight_decay)


def members_for(options: DeepOptions, n: int) -> int:
    """The ensemble size: the option, or for 0 the size rule of AUTO_MEMBERS."""
    if options.members:
        return options.members
    rows, members = AUTO_MEMBERS
    return members if n <= rows else 1


def spread(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1)) if values.size > 1 else math.nan


def training_details(ensemble) -> dict[str, Any]:
    """The ensemble's summary (members, epochs, best epoch, seconds) and its per-member curves."""
    return {**ensemble.summary(), "curves": ensemble.curves()}


class DeepEstimator(Estimator):
    family = "deep learning (JAX)"
    paper: ClassVar[str] = ""
    Options = DeepOptions

    def check(self, data: CausalData) -> None:
        super().check(data)
        if not deep_available():
            raise NotApplicable(f"{self.name}: {DEEP_EXTRA_HINT}")

    def features(self, data: CausalData) -> np.ndarray:
        """The adjustment matrix (every network takes all of it); `effect` takes the same columns."""
        return data.covariates if data.covariates.shape[1] else np.zeros((data.n, 1))

    def _network_options(self) -> dict[str, Any]:
        """The options that shape the network (the subclass's own fields beyond the shared ones)."""
        shared = set(DeepOptions.model_fields) | set(getattr(self, "_inference_fields", ()))
        return {k: getattr(self.options, k) for k in type(self.options).model_fields if k not in shared}
