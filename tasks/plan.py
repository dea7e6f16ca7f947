"""The analysis plan: every decision about what a run does, made once, from the spec and the graph.

`preflight(spec)` runs before any orchestration (the CLI and the flow both call it): estimator and
refuter names, estimator options and the engine. `plan_analysis(spec, identification, engine)` then
fixes the design, the estimators and why, the columns adjusted for, which diagnostics run and
whether the overlap gate stops the run. Flows read the plan; they decide nothing themselves.
"""

from __future__ import annotations

import logging
from pathlib import Path
from dataclasses import asdict, dataclass, field, replace

from estimators import registry
from tasks.identify.effect import Identification
from tasks.scale.source import EngineChoice, choose_engine
from whyflow.errors import SpecError
from whyflow.spec import AnalysisSpec
from whyflow.suggest import did_you_mean

__all__ = ["AnalysisPlan", "preflight", "plan_analysis", "recommend", "estimator_options", "STREAMING_ESTIMATORS"]

log = logging.getLogger(__name__)
STREAMING_ESTIMATORS = ("stream_linear_regression", "stream_linear_dml", "stream_aipw")


@dataclass(frozen=True)
class AnalysisPlan:
    """What one run does; `selection()` is what estimates.json records as "selection"."""

    design: str  # backdoor | iv | rdd | frontdoor | proxy
    estimators: tuple[str, ...]
    reason: str
    source: str  # spec | recommended
    engine: EngineChoice
    adjustment: tuple[str, ...]  # the back-door set, or the covariates the instruments need
    modifiers: tuple[str, ...]
    options: dict[str, dict] = field(default_factory=dict)  # estimator -> the options it is built with
    overlap: bool = True  # propensity overlap and balance: a back-door diagnostic
    overlap_gate_stops: bool = True  # IV does not rest on overlap: reported, not gated
    sensitivity: bool = True
    refute: bool = True

    def needs_nuisance(self, spec: AnalysisSpec) -> bool:
        """Whether any estimator of the plan (or the decision step) fits outcome or propensity models:
        a regression discontinuity or 2SLS alone needs no nuisance choice."""
        takes = any({"outcome_model", "propensity_model"} & set(registry.get(n).Options.model_fields)
                    for n in self.estimators)
        return takes or (spec.decision is not None and self.design == "backdoor")

    @property
    def covariates(self) -> list[str]:
        """Every column the estimators adjust for or condition the effect on."""
        return [*self.adjustment, *self.modifiers]

    def with_nuisance(self, spec: AnalysisSpec, outcome: str, propensity: str) -> AnalysisPlan:
        """The plan with the nuisance models chosen on the data (tasks/estimate/nuisance_choice.py)."""
        return replace(self, options={n: estimator_options(spec, n, (outcome, propensity)) for n in self.estimators})

    def without(self, columns: dict[str, str] | list[str]) -> AnalysisPlan:
        """The plan without covariates the data preparation found unusable (constant, near-duplicate)."""
        gone = set(columns)
        return replace(self, adjustment=tuple(c for c in self.adjustment if c not in gone),
                       modifiers=tuple(c for c in self.modifiers if c not in gone))

    def selection(self) -> dict:
        return {"design": self.design, "estimators": list(self.estimators), "reason": self.reason,
                "source": self.source}

    def to_json(self) -> dict:
        return asdict(self)


def _backdoor_set(treatment_type: str, estimand: str) -> list[str]:
    """Regression adjustment, propensity methods, a doubly robust estimator and DML; matching for the
    ATT/ATC, where it is the classic choice (Dehejia & Wahba 1999)."""
    if treatment_type == "continuous":
        return ["linear_regression", "linear_dml"]
    wanted = ["linear_regression", "ps_stratification", "ipw", "aipw", "linear_dml"]
    if estimand in ("att", "atc"):
        wanted.insert(3, "ps_matching")
    return wanted


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


def _recommend_for(spec: AnalysisSpec, identification: Identification | None) -> dict:
    """The set for the declared design (before identification: assuming a back-door set)."""
    if identification is not None and identification.strategy == "proxy":
        return {"design": "proxy", "estimators": ["cevae"],
                "reason": f"no back-door set: the hidden confounder is seen through proxies {spec.proxies}, so a "
                          "latent-variable model (CEVAE) estimates the effect; it holds only if the proxies pin the "
                          "confounder down, which no check here can confirm"}
    if identification is not None and identification.strategy == "frontdoor" and not spec.instruments:
        return recommend(spec.treatment_type, backdoor=False, estimand=spec.estimand)
    return recommend(spec.treatment_type, instruments=bool(spec.instruments),
                     running_variable=spec.running_variable is not None,
                     backdoor=identification is None or identification.backdoor is not None, estimand=spec.estimand)


def estimator_options(spec: AnalysisSpec, name: str, nuisance: tuple[str, str] | None = None) -> dict:
    """The options one estimator is built with: the run's nuisance models (chosen, or the spec's when
    it names them) where the estimator takes them, overridden by its own `estimator_options` entry."""
    accepted = registry.get(name).Options.model_fields
    outcome, propensity = nuisance or (spec.nuisance.outcome, spec.nuisance.propensity)
    models = {"outcome_model": outcome, "propensity_model": propensity}
    models = {k: v for k, v in models.items() if k in accepted and v != "auto"}  # auto: decided on the data
    return models | dict(spec.estimator_options.get(name, {}))


def _check_names(spec: AnalysisSpec) -> None:
    from tasks.evidence.refute import check_refuters

    known = registry.available()
    for key, names in (("estimators", spec.estimators or []), ("estimator_options", list(spec.estimator_options))):
        for name in names:
            if name not in known:
                raise SpecError(f"analysis '{spec.name}': unknown estimator {name!r} in '{key}'"
                                f"{did_you_mean(name, known) or ';'} expected one of {sorted(known)}")
    for name, options in spec.estimator_options.items():
        try:
            registry.get(name).check_options(options)
        except ValueError as exc:
            raise SpecError(f"analysis '{spec.name}': estimator_options.{name}: {exc}") from None
    check_refuters(spec)


def preflight(spec: AnalysisSpec, *, snapshot: str | None = None) -> EngineChoice:
    """Everything about the spec that can be wrong before the data are read: SpecError, exit 2.
    With `snapshot`, a Parquet file is analysed in memory and a dataset folder (a streamed run's
    snapshot, as `whyflow reproduce` fetches it) is streamed again."""
    _check_names(spec)
    if snapshot and not Path(snapshot).is_dir():
        return EngineChoice("memory", None, None, "a snapshot file")
    if snapshot:
        engine = EngineChoice("dask" if spec.engine == "dask" else "stream", None, None, "a streamed run's dataset")
    else:
        engine = choose_engine(spec)
    if engine.kind == "memory":
        return engine
    if spec.overlap.trim != "none" or spec.overlap.propensity_model != "logistic":
        raise SpecError(f"analysis '{spec.name}': streaming ({engine.reason}) supports overlap.trim: none and "
                        f"overlap.propensity_model: logistic; got {spec.overlap.trim!r}, {spec.overlap.propensity_model!r}")
    blocked = [n for n in spec.estimators or [] if not registry.get(n).streams]
    if blocked:
        raise SpecError(f"analysis '{spec.name}': estimator(s) {blocked} cannot stream ({engine.reason}); "
                        f"use the streaming estimators {list(STREAMING_ESTIMATORS)} or set engine: memory")
    return engine


def _streamed_estimators(spec: AnalysisSpec) -> list[str]:
    if spec.estimators:
        return list(spec.estimators)
    if spec.treatment_type != "binary":
        return ["stream_linear_regression", "stream_linear_dml"]
    return list(STREAMING_ESTIMATORS)


def plan_analysis(spec: AnalysisSpec, identification: Identification, engine: EngineChoice) -> AnalysisPlan:
    """The frozen plan of one run; logged, and recorded as the results' "selection"."""
    if engine.kind != "memory":
        if identification.backdoor is None:
            raise SpecError(f"analysis '{spec.name}': streaming estimates back-door effects; the graph identifies "
                            "no back-door set (use engine: memory for IV, RD or front-door designs)")
        names = _streamed_estimators(spec)
        plan = AnalysisPlan(design="backdoor", estimators=tuple(names), reason=f"{engine.kind} engine: {engine.reason}",
                            source="spec" if spec.estimators else "recommended", engine=engine,
                            adjustment=tuple(identification.backdoor), modifiers=tuple(spec.effect_modifiers),
                            options={n: estimator_options(spec, n) for n in names},
                            overlap=spec.treatment_type == "binary", sensitivity=False, refute=False)
        log.info("plan: %s", plan.selection())
        return plan
    chosen = _recommend_for(spec, identification)
    names, source, reason = chosen["estimators"], "recommended", chosen["reason"]
    if spec.estimators:
        names, source, reason = list(spec.estimators), "spec", "named in the spec's 'estimators'"
    design = chosen["design"]
    backdoor = identification.backdoor
    adjustment = (backdoor if backdoor is not None else identification.proxy_adjustment
                  if design == "proxy" else (identification.iv_controls or []))
    if design == "proxy" and "cevae" in names:
        from estimators.deep.runtime import DEEP_EXTRA_HINT, deep_available

        if not deep_available():
            raise SpecError(f"analysis '{spec.name}': the proxy design needs cevae, one of the deep estimators; "
                            f"{DEEP_EXTRA_HINT}")
    # overlap and sensitivity are back-door diagnostics; a sharp RD has no overlap by construction
    diagnostics = backdoor is not None and design != "rdd"
    plan = AnalysisPlan(design=design, estimators=tuple(names), reason=reason, source=source, engine=engine,
                        adjustment=tuple(adjustment), modifiers=tuple(spec.effect_modifiers),
                        options={n: estimator_options(spec, n) for n in names},
                        overlap=diagnostics and spec.treatment_type == "binary", overlap_gate_stops=design == "backdoor",
                        sensitivity=diagnostics, refute=True)
    log.info("estimators (%s, %s design): %s; %s", source, design, ", ".join(names), reason)
    return plan
