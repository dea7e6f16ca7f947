"""A run's propensity, CATE and policy models bundled for online scoring, and their MLflow pyfunc.

`ServedModels.score(columns)` turns raw feature columns into one prediction per row: the propensity
P(T = 1 | W), its stratum (1 = lowest, at the run's propensity quantiles), each CATE model's effect
with its 95% interval where the model has one, and the decision's treat / do not treat. The pyfunc
`ServedRun` wraps it for `mlflow models serve` and `mlflow.pyfunc.load_model`.

Security: the bundle is a pickle (cloudpickle, through MLflow). Load it only from the project's own
MLflow store; never unpickle a model file whose origin you do not control.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from estimators.base import CausalData
from tasks.serve.encode import FeatureEncoder, RequestError

__all__ = ["LinearForm", "CompiledTree", "CateModel", "MEMO_ROWS", "PolicyModel", "ServedModels", "ServedRun",
           "MAX_ROWS"]

MAX_ROWS = 10_000  # rows per request: a larger batch is refused with 413, naming the limit


def _linear_regression_se(estimator: Any, X: np.ndarray) -> np.ndarray:
    """Per-row standard error of linear_regression's CATE: the HC1 covariance of its interaction terms."""
    beta, cov, _, centre, interaction = estimator.fitted_
    contrast = np.zeros((len(X), beta.size))
    contrast[:, 1] = 1.0
    if centre.size:
        contrast[:, interaction] = X - centre
    return np.sqrt(np.einsum("ij,jk,ik->i", contrast, cov, contrast))


@dataclass(frozen=True)
class LinearForm:
    """A CATE linear in its features with a quadratic-form variance: tau(x) = a + x.b, se(x)^2 =
    [1, x] S [1, x]'. Read off an EconML linear final stage and checked against it on the run's rows
    (tasks/serve/build.py), it answers in microseconds where EconML's inference objects take ~1 ms."""

    intercept: float
    coef: np.ndarray
    cov: np.ndarray

    def effect(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        phi = np.hstack([np.ones((len(X), 1)), X])
        return self.intercept + X @ self.coef, np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", phi, self.cov, phi), 0.0))


MEMO_ROWS = 4096  # distinct feature rows whose effects a served CATE model remembers


@dataclass
class CateModel:
    """One fitted CATE estimator of the run (the estimate step's own, slimmed of its training arrays).

    A model without a closed form (EconML's forests and meta-learners: 3-50 ms per call, mostly their
    own validation and, for a forest, its bootstrap-of-little-bags interval) remembers the effect of
    each distinct feature row it has scored, up to MEMO_ROWS rows; its effect at a row does not depend
    on the other rows of a request, so a remembered answer is the answer. `support` holds the run's
    distinct feature rows when there are at most MEMO_ROWS of them (categorical modifiers), scored once
    when the server starts (`warm`)."""

    name: str
    estimator: Any = field(repr=False)
    interval: str | None = None  # "econml" (model_.effect_interval), "linear" (HC1 contrast) or None
    form: LinearForm | None = None  # when set (and verified), effect and interval come from it
    support: np.ndarray | None = field(default=None, repr=False)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_memo"}  # remembered answers are not logged

    def effect(self, data: CausalData) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        X = self.estimator.features(data)
        if self.form is not None:
            tau, se = self.form.effect(X)
            return tau, tau - 1.959963984540054 * se, tau + 1.959963984540054 * se
        return self._remembered(np.ascontiguousarray(X, dtype=float))

    def warm(self) -> None:
        if self.form is None and self.support is not None and len(self.support):
            self._remembered(np.ascontiguousarray(self.support, dtype=float))

    def _remembered(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        memo = self.__dict__.setdefault("_memo", {})
        keys = [row.tobytes() for row in X]
        new: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if key not in memo and key not in new:
                new[key] = i
        if new:
            if len(memo) + len(new) > MEMO_ROWS:  # too many distinct rows to remember: answered directly
                return self._compute(X)
            tau, low, high = self._compute(X[list(new.values())])
            for j, key in enumerate(new):
                memo[key] = (tau[j], np.nan if low is None else low[j], np.nan if high is None else high[j])
        found = np.array([memo[key] for key in keys], dtype=float).reshape(len(keys), 3)
        if self.interval is None:
            return found[:, 0], None, None
        return found[:, 0], found[:, 1], found[:, 2]

    def _compute(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        tau = np.asarray(self.estimator.effect(X), dtype=float).ravel()
        if self.interval == "linear":
            se = _linear_regression_se(self.estimator, X)
            return tau, tau - 1.959963984540054 * se, tau + 1.959963984540054 * se
        if self.interval == "econml":
            from estimators.econml_common import quiet

            with quiet():
                if getattr(self.estimator, "X_", True) is None:  # a constant effect
                    low, high = self.estimator.model_.effect_interval(None, alpha=0.05)
                    return tau, np.full(tau.size, float(np.ravel(low)[0])), np.full(tau.size, float(np.ravel(high)[0]))
                low, high = self.estimator.model_.effect_interval(X, alpha=0.05)
            return tau, np.ravel(low).astype(float), np.ravel(high).astype(float)
        return tau, None, None


@dataclass(frozen=True)
class CompiledTree:
    """A fitted decision tree's splits as arrays, walked in numpy: the same leaves as the tree's own
    predict (checked on the run's rows in tasks/serve/build.py) without its per-call validation
    (~0.2 ms for EconML's PolicyTree, ~5 us here). Action per leaf: argmax of the leaf's value."""

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    treat: np.ndarray  # per node: the leaf's action is "treat"

    @classmethod
    def of(cls, tree) -> CompiledTree:
        t = tree.tree_
        values = np.asarray(t.value).reshape(t.node_count, -1)
        return cls(np.asarray(t.children_left), np.asarray(t.children_right), np.asarray(t.feature),
                   np.asarray(t.threshold, dtype=float), values.argmax(axis=1) == 1)

    def decide(self, matrix: np.ndarray) -> np.ndarray:
        node = np.zeros(len(matrix), dtype=np.int64)
        rows = np.arange(len(matrix))
        while True:
            inner = self.left[node] != -1
            if not inner.any():
                return self.treat[node]
            at = node[inner]
            goes_left = matrix[rows[inner], self.feature[at]] <= self.threshold[at]
            node[inner] = np.where(goes_left, self.left[at], self.right[at])


@dataclass
class PolicyModel:
    """The decision's recommended rule for new units (tasks/decide/policy.py `final_rule`)."""

    kind: str  # "constant" | "tree" | "cate_threshold"
    rule: str  # in words, as decision.json says it
    features: list[str] = field(default_factory=list)  # raw features the rule reads (tree)
    treat_all: bool = False  # constant
    tree: Any = field(default=None, repr=False)  # a PolicyTreeRule over the decision features (or its CompiledTree)
    model: str | None = None  # cate_threshold: the CATE model whose effect is thresholded
    cost: float = 0.0
    value_per_outcome: float = 1.0
    min_gain_per_cost: float | None = None  # under a budget: the run's cut-off on effect per unit of cost

    def decide(self, rows: int, parsed: dict[str, np.ndarray], encoder: FeatureEncoder,
               cate: dict[str, np.ndarray]) -> np.ndarray:
        if self.kind == "constant":
            return np.full(rows, self.treat_all)
        if self.kind == "tree":
            return np.asarray(self.tree.decide(encoder.matrix(parsed, self.features, drop_first=False)), dtype=bool)
        tau = cate[self.model]
        treat = self.value_per_outcome * tau - self.cost > 0
        if self.min_gain_per_cost is not None and self.cost > 0:
            treat &= self.value_per_outcome * tau / self.cost >= self.min_gain_per_cost
        return treat


@dataclass
class ServedModels:
    """Everything needed to score new rows of one run, and what /version reports about it."""

    analysis: str
    run_id: str
    versions: dict[str, Any]
    treatment: str
    encoder: FeatureEncoder
    covariates: list[str]  # raw adjustment columns, in CausalData's order (the propensity's W)
    modifiers: list[str]  # raw effect modifiers (the CATE's X)
    covariate_names: list[str]  # the encoded names, as the run's CausalData had them
    x_names: list[str]
    propensity: Any = field(repr=False)  # predict_proba over the encoded covariates
    propensity_kind: str = "logistic"
    strata_edges: list[float] = field(default_factory=list)
    cate: list[CateModel] = field(default_factory=list)
    policy: PolicyModel | None = None
    max_rows: int = MAX_ROWS

    @property
    def features(self) -> list[str]:
        return self.encoder.features

    def describe(self) -> dict[str, Any]:
        return {"analysis": self.analysis, "run_id": self.run_id, "versions": self.versions,
                "features": {c.name: list(c.levels) if c.categorical else "number"
                             for c in self.encoder.codes.values()},
                "propensity_model": self.propensity_kind, "strata": len(self.strata_edges) + 1,
                "cate_models": [m.name for m in self.cate],
                "policy": None if self.policy is None else {"kind": self.policy.kind, "rule": self.policy.rule},
                "max_rows": self.max_rows}

    def warm(self) -> None:
        """Score the run's distinct feature rows once (models without a closed form remember them)."""
        for model in self.cate:
            model.warm()

    def outputs(self) -> list[tuple[str, str]]:
        """The prediction's fields and their MLflow types, in order."""
        out = [("propensity", "double"), ("stratum", "long")]
        for model in self.cate:
            out.append((f"cate.{model.name}", "double"))
            if model.interval:
                out += [(f"cate_low.{model.name}", "double"), (f"cate_high.{model.name}", "double")]
        return out + ([("treat", "boolean")] if self.policy is not None else [])

    def score(self, columns: Mapping[str, Sequence[Any]], rows: int) -> dict[str, np.ndarray]:
        """One prediction per row, as columns; RequestError for what cannot be scored."""
        if rows == 0:
            raise RequestError("the request holds no rows")
        if rows > self.max_rows:
            raise RequestError(f"batch of {rows} rows exceeds the limit of {self.max_rows} rows per request", 413)
        parsed = self.encoder.parse(columns, rows)
        W = self.encoder.matrix(parsed, self.covariates, drop_first=True)
        X = self.encoder.matrix(parsed, self.modifiers, drop_first=True)
        data = CausalData(Y=np.zeros(rows), T=np.zeros(rows), covariates=W, X=X,
                          covariate_names=self.covariate_names, x_names=self.x_names)
        e = np.asarray(self.propensity.predict_proba(W if W.shape[1] else np.zeros((rows, 1))))[:, 1]
        out: dict[str, np.ndarray] = {"propensity": e,
                                      "stratum": np.searchsorted(np.asarray(self.strata_edges), e, side="right") + 1}
        effects = {}
        for model in self.cate:
            tau, low, high = model.effect(data)
            effects[model.name] = tau
            out[f"cate.{model.name}"] = tau
            if model.interval:
                out[f"cate_low.{model.name}"], out[f"cate_high.{model.name}"] = low, high
        if self.policy is not None:
            out["treat"] = self.policy.decide(rows, parsed, self.encoder, effects)
        return out

    def predict_records(self, columns: Mapping[str, Sequence[Any]], rows: int) -> list[dict[str, Any]]:
        """score() as JSON-ready records (plain floats, ints and bools)."""
        scored = {k: v.tolist() for k, v in self.score(columns, rows).items()}
        names = list(scored)
        return [dict(zip(names, values)) for values in zip(*scored.values())]


from mlflow.pyfunc import PythonModel  # noqa: E402 (MLflow is needed wherever this model is built or loaded)


class ServedRun(PythonModel):
    """MLflow pyfunc over `ServedModels`: a DataFrame of raw features in, one row of predictions out."""

    # MLflow 3 wraps predict for type-hint validation and warns without hints; the signature logged
    # with the model describes the input instead (mlflow/pyfunc/model.py, PythonModel.__init_subclass__)
    _skip_type_hint_validation = True

    def __init__(self, models: ServedModels):
        self.models = models

    def predict(self, context, model_input, params=None):
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        columns = {name: frame[name].to_numpy() for name in self.models.features if name in frame.columns}
        return pd.DataFrame(self.models.score(columns, len(frame)))
