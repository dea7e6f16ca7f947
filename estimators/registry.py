"""The one place estimators are registered. Adding one: a new module, plus its name in _MODULES
(CONTRIBUTING.md). Which estimators a run uses is decided by tasks/plan.py, not here."""

from __future__ import annotations

import importlib

__all__ = ["register", "get", "available", "describe"]

_MODULES = (
    "estimators.linear_regression",
    "estimators.ps_stratification",
    "estimators.ipw",
    "estimators.linear_dml",
    "estimators.ps_matching",
    "estimators.aipw",
    "estimators.sparse_linear_dml",
    "estimators.causal_forest",
    "estimators.dr_learner",
    "estimators.s_learner",
    "estimators.t_learner",
    "estimators.x_learner",
    "estimators.iv_2sls",
    "estimators.dml_iv",
    "estimators.rdd",
    "estimators.frontdoor",
    "estimators.streaming.estimators",
    "estimators.deep.adapters",
)
_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise RuntimeError(f"estimator name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _loaded() -> dict[str, type]:
    for module in _MODULES:
        importlib.import_module(module)
    return _REGISTRY


def available() -> list[str]:
    return list(_loaded())


def get(name: str) -> type:
    registry = _loaded()
    if name not in registry:
        raise KeyError(f"unknown estimator {name!r}; expected one of {sorted(registry)}")
    return registry[name]


def describe() -> list[dict]:
    """One row per estimator, for `whyflow estimators`."""
    return [
        {"name": cls.name, "estimands": list(cls.estimands), "family": cls.family, "cate": cls.gives_cate,
         "streams": cls.streams, "treatment_types": list(cls.treatment_types), "requires": list(cls.requires),
         "summary": cls.summary, "options": cls.Options.describe()}
        for cls in _loaded().values()
    ]
