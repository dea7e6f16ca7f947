"""The estimator registry and its adapters; every estimator returns one Estimate type."""

from estimators.base import CausalData, Estimate, Estimator
from estimators.registry import available, describe, get, recommended

__all__ = ["CausalData", "Estimate", "Estimator", "available", "describe", "get", "recommended"]
