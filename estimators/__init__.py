"""The estimator registry and its adapters; every estimator returns one Estimate type."""

from estimators.base import CausalData, Estimate, Estimator, Fit
from estimators.registry import available, describe, get

__all__ = ["CausalData", "Estimate", "Estimator", "Fit", "available", "describe", "get"]
