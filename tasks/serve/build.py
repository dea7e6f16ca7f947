"""Build a run's served models from what the run recorded: its snapshot, its spec and its result.

The CATE models are the estimate step's own fitted estimators (`Estimate.fitted`, kept in memory for
this step: training them again doubled a deep analysis's time), slimmed of their training arrays;
`build_served_models` checks that slimming leaves their effects unchanged and that the encoder rebuilds
the run's design matrix exactly from the raw columns.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from estimators import registry
from estimators.base import CausalData
from estimators.propensity import LogisticIRLS
from tasks.record.result import RunResult
from tasks.serve.encode import FeatureEncoder, column_codes
from tasks.serve.model import MEMO_ROWS, CateModel, CompiledTree, LinearForm, PolicyModel, ServedModels
from whyflow.spec import AnalysisSpec

__all__ = ["analysed_frame", "build_served_models", "DEFAULT_STRATA", "ServeBuildError", "NotServed"]

log = logging.getLogger(__name__)
DEFAULT_STRATA = 5  # propensity quintiles, unless the run's ps_stratification cut other strata


class ServeBuildError(ValueError):
    """The run's models could not be built as the run had them (a model was not kept, an encoding does not match)."""


class NotServed(Exception):
    """A run whose design has nothing to serve by this path: not a back-door design with a binary
    treatment, or a streamed run (its data are beyond memory; its estimators do not predict new rows)."""


def _snapshot_frame(spec: AnalysisSpec, md5: str) -> pd.DataFrame:
    local = spec.base_dir / "data" / "snapshots" / spec.name / f"{md5}.parquet"
    if local.is_file():
        return pd.read_parquet(local)
    from tasks.data.snapshot import fetch_snapshot

    return pd.read_parquet(fetch_snapshot(md5, Path(spec.base_dir)))


def analysed_frame(spec: AnalysisSpec, result: RunResult, frame: pd.DataFrame | None = None
                   ) -> tuple[pd.DataFrame, CausalData]:
    """The run's analysed frame and CausalData (after trimming), rebuilt as flows/analysis.py built them."""
    from tasks.data.prepare import prepare_data
    from tasks.estimate.effects import causal_data

    identification = result.identification
    if identification.backdoor is None or result.selection.get("design") != "backdoor":
        raise NotServed(f"only back-door designs are served; this run's design is "
                              f"{result.selection.get('design')!r}")
    unused = set(result.preparation.unused_columns) if result.preparation else set()
    adjustment = [c for c in identification.backdoor if c not in unused]
    modifiers = [c for c in spec.effect_modifiers if c not in unused]
    frame = _snapshot_frame(spec, str(result.versions["data_md5"])) if frame is None else frame
    analysed, _ = prepare_data(frame, spec, [*adjustment, *modifiers])
    # causal_data reads only the plan's adjustment set
    data = causal_data(analysed, spec, identification, SimpleNamespace(adjustment=tuple(adjustment)))
    if result.overlap is not None and result.overlap.keep is not None and result.overlap.trimmed_units:
        data = data.subset(result.overlap.keep)
    return analysed, data


def _slim(estimator, n: int):
    """Drop per-row arrays of the training data that prediction does not need (small pickles)."""
    if estimator.estimate_ is not None:
        estimator.estimate_ = replace(estimator.estimate_, cate=None, segments=None)
    for name, value in list(vars(estimator).items()):
        if isinstance(value, np.ndarray) and value.ndim >= 1 and len(value) == n:
            setattr(estimator, name, value[:0])  # emptied, not None: `X_ is None` means a constant effect
    model = getattr(estimator, "model_", None)
    if model is not None and hasattr(model, "_cached_values"):
        model._cached_values = None  # EconML's cached residuals (cache_values=True)
    if hasattr(estimator, "fitted_") and isinstance(estimator.fitted_, tuple) and len(estimator.fitted_) == 5:
        beta, cov, X, centre, interaction = estimator.fitted_  # linear_regression keeps X for segment_effect
        estimator.fitted_ = (beta, cov, X[:0], centre, interaction)
    return estimator


def _interval_kind(model: CateModel, probe: CausalData) -> str | None:
    for kind in ("linear", "econml"):
        try:
            tau, low, high = replace(model, interval=kind).effect(probe)
        except Exception:  # no interval of this kind for this estimator
            continue
        if low is not None and np.isfinite(low).all() and np.isfinite(high).all() and low.shape == tau.shape:
            return kind
    return None


def _linear_form(model: CateModel, X: np.ndarray) -> LinearForm | None:
    """The EconML model's effect and standard error as a LinearForm, when they are one: read at basis
    points (0, +-e_j, e_i + e_j), then checked against EconML on the run's distinct rows."""
    econml = getattr(model.estimator, "model_", None)
    if model.interval != "econml" or econml is None or getattr(model.estimator, "X_", None) is None or X.shape[1] > 60:
        return None
    from estimators.econml_common import quiet

    d = X.shape[1]
    eye = np.eye(d)
    pairs = [(i, j) for i in range(d) for j in range(i + 1, d)]
    basis = np.vstack([np.zeros((1, d)), eye, -eye, *([eye[[i for i, _ in pairs]] + eye[[j for _, j in pairs]]]
                                                     if pairs else [])])
    with quiet():
        found = econml.effect_inference(basis)
    tau, var = np.ravel(found.point_estimate), np.ravel(found.stderr) ** 2
    q = var - var[0]
    plus, minus = q[1:d + 1], q[d + 1:2 * d + 1]
    cov = np.zeros((d + 1, d + 1))
    cov[0, 0] = var[0]
    cov[0, 1:] = cov[1:, 0] = (plus - minus) / 4
    cov[np.arange(1, d + 1), np.arange(1, d + 1)] = (plus + minus) / 2
    for k, (i, j) in enumerate(pairs):
        cov[i + 1, j + 1] = cov[j + 1, i + 1] = (q[2 * d + 1 + k] - 2 * cov[0, i + 1] - 2 * cov[0, j + 1]
                                                 - cov[i + 1, i + 1] - cov[j + 1, j + 1]) / 2
    form = LinearForm(float(tau[0]), tau[1:d + 1] - tau[0], cov)
    rows = np.unique(X, axis=0)[:2000]
    with quiet():
        truth = econml.effect_inference(rows)
        low, high = econml.effect_interval(rows, alpha=0.05)
    mine, se = form.effect(rows)
    scale = max(1.0, float(np.abs(truth.point_estimate).max()))
    same = (np.allclose(mine, np.ravel(truth.point_estimate), rtol=1e-8, atol=1e-9 * scale)
            and np.allclose(se, np.ravel(truth.stderr), rtol=1e-6, atol=1e-9 * scale)
            and np.allclose(mine - 1.959963984540054 * se, np.ravel(low), rtol=1e-6, atol=1e-8 * scale)
            and np.allclose(mine + 1.959963984540054 * se, np.ravel(high), rtol=1e-6, atol=1e-8 * scale))
    return form if same else None


def _cate_models(spec: AnalysisSpec, result: RunResult, data: CausalData, warnings: list[str]) -> list[CateModel]:
    probe = data.subset(np.arange(min(3, data.n)))
    models = []
    for estimate in result.estimates:
        cls = registry.get(estimate.estimator)
        if not (estimate.ok and cls.gives_cate and not cls.streams):
            continue
        try:
            fitted = estimate.fitted  # the estimate step's own estimator: serving never trains a model again
            if fitted is None:
                raise ServeBuildError("the run did not keep its fitted estimator")
            before = np.asarray(fitted.effect(fitted.features(probe)), dtype=float)
            model = CateModel(estimate.estimator, _slim(fitted, data.n))
            if not np.allclose(model.effect(probe)[0], before, rtol=1e-9, atol=1e-12):
                raise ServeBuildError("its effects changed when its training arrays were dropped")
            model.interval = _interval_kind(model, probe)
            features = model.estimator.features(data)
            try:
                model.form = _linear_form(model, features)
            except Exception as exc:  # EconML without effect_inference here: its own calls serve
                log.info("CATE model %s keeps EconML's own effect calls: %s", model.name, exc)
            support = np.unique(features, axis=0)
            model.support = support if len(support) <= MEMO_ROWS else None
            model.__dict__.pop("_memo", None)  # answers remembered while the model was being set up
            models.append(model)
        except Exception as exc:  # recorded; the other models are still served
            warnings.append(f"CATE model {estimate.estimator} not served: {type(exc).__name__}: {exc}")
    return models


def _policy(spec: AnalysisSpec, result: RunResult, data: CausalData,
            cate: list[CateModel]) -> tuple[PolicyModel | None, list[str]]:
    decision = result.decision
    if decision is None:
        return None, []
    policy, rule = decision.report.policy, decision.report.final_rule
    kind = policy["kind"]
    words = policy.get("rule", kind)
    if kind in ("treat no one", "treat everyone"):
        return PolicyModel("constant", words, treat_all=kind == "treat everyone"), []
    if kind == "policy tree":
        return PolicyModel("tree", words, features=list(policy["features"]), tree=rule), list(policy["features"])
    model = policy["model"]
    served = {m.name: m for m in cate}
    if model not in served:
        raise ServeBuildError(f"the policy thresholds {model}'s CATE, which is not served")
    d = spec.decision
    cutoff = None
    if d.budget_share is not None and d.cost > 0:  # the run's rule: best effect per cost first, within the budget
        tau = served[model].effect(data)[0]
        per_cost = d.value_per_outcome * tau / d.cost
        allowed = int(np.floor(d.budget_share * tau.size))
        if (d.value_per_outcome * tau - d.cost > 0).mean() > d.budget_share and allowed > 0:
            cutoff = float(np.sort(per_cost)[::-1][allowed - 1])
    return PolicyModel("cate_threshold", words, model=model, cost=d.cost, value_per_outcome=d.value_per_outcome,
                       min_gain_per_cost=cutoff), []


def _compiled(rule, matrix: np.ndarray):
    """The rule's tree as a CompiledTree when it decides every run row as the tree does, else the rule."""
    try:
        compiled = CompiledTree.of(rule.tree)
        rows = np.unique(matrix, axis=0)[:5000]
        if np.array_equal(compiled.decide(rows), rule.decide(rows)) and np.array_equal(
                compiled.decide(matrix), rule.decide(matrix)):
            return compiled
    except Exception as exc:  # a tree without sklearn-style arrays: its own predict serves
        log.info("policy tree served through its own predict: %s", exc)
    return rule


def _strata(spec: AnalysisSpec, result: RunResult, e: np.ndarray) -> list[float]:
    from tasks.plan import estimator_options

    count = DEFAULT_STRATA
    if any(x.estimator == "ps_stratification" and x.ok for x in result.estimates):
        count = int(estimator_options(spec, "ps_stratification").get("num_strata", 10))
    return [float(v) for v in np.quantile(e, np.linspace(0, 1, count + 1)[1:-1])]


def build_served_models(spec: AnalysisSpec, run_id: str, result: RunResult, frame: pd.DataFrame | None = None
                        ) -> tuple[ServedModels, pd.DataFrame, list[str]]:
    """The served models of a finished run, an input example (raw rows of the analysed data) and the
    warnings met (a CATE model left out, with why)."""
    if spec.treatment_type != "binary":
        raise NotServed("only binary treatments are served (the propensity needs 0/1)")
    if str(result.versions.get("data_md5", "")).endswith(".dir"):
        raise NotServed("a streamed run's data are beyond memory and its estimators do not predict new rows")
    analysed, data = analysed_frame(spec, result, frame)
    covariates = list(dict.fromkeys(c for c in data_columns(spec, result)))
    modifiers = [c for c in spec.effect_modifiers if c in covariates]
    rows = data.rows if data.rows is not None else np.arange(data.n)
    training = analysed.iloc[rows].reset_index(drop=True)
    warnings: list[str] = []
    cate = _cate_models(spec, result, data, warnings)
    policy, policy_features = _policy(spec, result, data, cate)
    encoder = FeatureEncoder(column_codes(training, [*covariates, *policy_features], spec.categorical))
    parsed = encoder.parse({c: training[c].to_numpy() for c in encoder.features}, len(training))
    if not (np.array_equal(encoder.matrix(parsed, covariates, drop_first=True), data.covariates)
            and np.array_equal(encoder.matrix(parsed, modifiers, drop_first=True), data.X)):
        raise ServeBuildError("the encoder does not rebuild the run's design matrix from the raw columns")
    if policy_features:
        from tasks.decide.features import decision_features

        expected = decision_features(training, policy_features, categorical=list(spec.categorical)).matrix
        if not np.array_equal(encoder.matrix(parsed, policy_features, drop_first=False), expected):
            raise ServeBuildError("the encoder does not rebuild the decision rule's features from the raw columns")
        policy.tree = _compiled(policy.tree, expected)
    kind = result.overlap.propensity_model if result.overlap is not None else "logistic"
    W = data.covariates if data.covariates.shape[1] else np.zeros((data.n, 1))
    if kind == "logistic":
        propensity = LogisticIRLS().fit(W, data.T)
    else:  # the run cross-fitted it for the diagnostics; new units get one model fitted on every row
        from estimators.nuisance import propensity_model

        propensity = propensity_model(kind, spec.seed).fit(W, data.T.astype(int))
    e = propensity.predict_proba(W)[:, 1]
    models = ServedModels(
        analysis=spec.name, run_id=run_id, versions=dict(result.versions), treatment=spec.treatment, encoder=encoder,
        covariates=covariates, modifiers=modifiers, covariate_names=list(data.covariate_names),
        x_names=list(data.x_names), propensity=propensity, propensity_kind=kind, strata_edges=_strata(spec, result, e),
        cate=cate, policy=policy)
    return models, training[encoder.features].head(5), warnings


def data_columns(spec: AnalysisSpec, result: RunResult) -> list[str]:
    """The raw adjustment columns in CausalData's order: the back-door set, then the modifiers."""
    unused = set(result.preparation.unused_columns) if result.preparation else set()
    return [c for c in dict.fromkeys([*result.identification.backdoor, *spec.effect_modifiers]) if c not in unused]
