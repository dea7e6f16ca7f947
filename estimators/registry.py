"""The one place estimators are registered. Adding one: a new module, plus its name in _MODULES."""

from __future__ import annotations

import importlib

__all__ = ["register", "get", "available", "describe", "recommended", "recommend"]

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
    "estimators.stream_estimators",
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
         "summary": cls.summary}
        for cls in _loaded().values()
    ]


def recommended(treatment_type: str = "binary", *, instruments: bool = False, running_variable: bool = False,
                backdoor: bool = True, estimand: str = "ate") -> list[str]:
    """The default estimators for the design the declared roles imply (see `recommend`)."""
    return recommend(treatment_type, instruments=instruments, running_variable=running_variable,
                     backdoor=backdoor, estimand=estimand)["estimators"]


def _backdoor_set(treatment_type: str, estimand: str) -> list[str]:
    """Regression adjustment, propensity methods, a doubly robust estimator and DML; matching for the ATT/ATC,
    where it is the classic choice (Dehejia & Wahba 1999). Only names that are registered."""
    if treatment_type == "continuous":
        return ["linear_regression", "linear_dml"]
    wanted = ["linear_regression", "ps_stratification", "ipw", "aipw", "linear_dml"]
    if estimand in ("att", "atc"):
        wanted.insert(3, "ps_matching")
    known = _loaded()
    return [name for name in wanted if name in known]


def recommend(treatment_type: str = "binary", *, instruments: bool = False, running_variable: bool = False,
              backdoor: bool = True, estimand: str = "ate") -> dict:
    """{'design', 'estimators', 'reason'}: the set whyflow runs when the spec names none.

    A declared running variable and cutoff make it a regression discontinuity (the effect at the
    cutoff is all the design identifies); declared instruments make it an IV design, with the
    back-door estimators alongside only when the graph also gives a back-door set; otherwise back-door.
    """
    kind = f"{treatment_type} treatment"
    if running_variable:
        return {"design": "rdd", "estimators": ["rdd"],
                "reason": f"running_variable and cutoff declared: sharp regression discontinuity ({kind}); "
                          "the effect is identified at the cutoff only"}
    if instruments:
        names = ["iv_2sls", "dml_iv"]
        reason = f"instruments declared: instrumental variables ({kind})"
        if backdoor:
            names += _backdoor_set(treatment_type, estimand)
            reason += ("; the graph also identifies a back-door set, so back-door estimators run alongside "
                       "for comparison (they assume no unobserved confounding)")
        else:
            reason += "; the graph identifies no back-door set, so no back-door estimator runs"
        return {"design": "iv", "estimators": names, "reason": reason}
    if not backdoor:
        return {"design": "frontdoor", "estimators": ["frontdoor"],
                "reason": "no back-door set and no instruments, but the graph licenses a front-door set"}
    names = _backdoor_set(treatment_type, estimand)
    reason = f"back-door adjustment ({kind}, {estimand.upper()})"
    if treatment_type == "continuous":
        reason += ": linear adjustment and DML give the marginal effect per unit; propensity methods need 0/1"
    return {"design": "backdoor", "estimators": names, "reason": reason}
