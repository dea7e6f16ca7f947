"""The analysis spec: params.yaml parsed once, at the edge, into a frozen and validated object."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from whyflow.errors import SpecError
from whyflow.suggest import did_you_mean

__all__ = [
    "SqlSource",
    "DataSource",
    "Gates",
    "OverlapOptions",
    "SensitivityOptions",
    "NuisanceModels",
    "NegativeControls",
    "SampleOptions",
    "MissingPolicy",
    "DecisionSpec",
    "AnalysisSpec",
    "load_spec",
    "list_analyses",
    "apply_overrides",
    "redact_url",
]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
DEFAULT_REFUTERS = ("placebo", "random_common_cause", "data_subset", "plasmode")


def _choices(annotation: Any) -> tuple[str, ...]:
    """The string values of a Literal annotation (also inside `Literal[...] | None`), else ()."""
    if get_origin(annotation) is Literal:
        return tuple(a for a in get_args(annotation) if isinstance(a, str))
    if get_origin(annotation) in (Union, UnionType):
        return tuple(c for a in get_args(annotation) for c in _choices(a))
    return ()


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _enum_values_any_case(cls, value: Any) -> Any:
        """`estimand: ATT` is `att`: a word of a fixed set of choices is matched whatever its case."""
        if not isinstance(value, dict):
            return value
        folded = dict(value)
        for key, field in cls.model_fields.items():
            choices = _choices(field.annotation)
            if choices and isinstance(folded.get(key), str) and folded[key].strip().lower() in choices:
                folded[key] = folded[key].strip().lower()
        return folded


class SqlSource(_Frozen):
    """A table or a parameterised query read through SQLAlchemy; values only as bound parameters."""

    url: str = Field(description="SQLAlchemy URL of the database; a password in it is masked in logs and MLflow",
                     json_schema_extra={"example": "sqlite:///data/warehouse.db"})
    table: str | None = Field(None, description="a plain table name (optionally schema.table) to read whole; "
                              "give exactly one of table or query", json_schema_extra={"example": "campaign_users"})
    query: str | None = Field(None, description="a SELECT whose values come only as bound parameters (:name)",
                              json_schema_extra={"example": "SELECT * FROM users WHERE campaign = :campaign"})
    params: dict[str, Any] = Field(default_factory=dict, description="values bound into the query's :name "
                                   "parameters (never pasted into its text)", json_schema_extra={"example": {"campaign": "618"}})

    @model_validator(mode="after")
    def _one_of_table_or_query(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.table is not None and not _IDENTIFIER.match(self.table):
            raise ValueError(
                f"table must be a plain table name (letters, digits, '_', optional schema.); "
                f"got {self.table!r}"
            )
        if self.params and self.query is None:
            raise ValueError("'params' bind values into a 'query'; there is no query")
        return self


class DataSource(_Frozen):
    """Where the rows come from: one file or folder (`path`) or one SQL source (`sql`)."""

    path: str | None = Field(None, description="a .parquet or .csv file, or a folder or glob of Parquet files "
                             "(a partitioned dataset, streamed when large), relative to params.yaml; give exactly "
                             "one of path or sql", json_schema_extra={"example": "data/raw/coupon_618.parquet"})
    sql: SqlSource | None = Field(None, description="a table or a parameterised query read through SQLAlchemy",
                                  json_schema_extra={"example": {"url": "sqlite:///data/warehouse.db", "table": "campaign_users"}})

    @model_validator(mode="after")
    def _one_source(self) -> DataSource:
        if (self.path is None) == (self.sql is None):
            raise ValueError("give exactly one of 'path' (Parquet/CSV) or 'sql'")
        # a directory (no suffix) or a glob is a partitioned Parquet dataset (tasks/stream_source.py)
        dataset = self.path is not None and (re.search(r"[*?[]", self.path) or Path(self.path).suffix == "")
        if self.path is not None and not dataset and Path(self.path).suffix.lower() not in (".parquet", ".csv"):
            raise ValueError(f"path must end in .parquet or .csv, or name a Parquet directory or glob; got {self.path!r}")
        return self

    def describe(self) -> str:
        """Where the data came from, safe to log: passwords in URLs are masked."""
        if self.path is not None:
            return self.path
        assert self.sql is not None
        what = f"table={self.sql.table}" if self.sql.table else "query"
        return f"{redact_url(self.sql.url)} {what}"


class Gates(_Frozen):
    """Thresholds on the data and the overlap. A gate the spec declares stops the run (exit 3) when
    it fails; one left at its default only warns (tag whyflow.warnings), with a remedy."""

    min_common_support: float = Field(0.9, ge=0.0, le=1.0, description="least share of units whose "
                                      "propensity lies where both arms have units", json_schema_extra={"example": 0.95})
    max_smd_after_weighting: float = Field(0.1, gt=0.0, description="largest standardised mean difference of a "
                                           "covariate between the arms after inverse-propensity weighting",
                                           json_schema_extra={"example": 0.05})
    max_null_fraction: float = Field(0.0, ge=0.0, le=1.0, description="largest share of null values allowed in a "
                                     "column the analysis uses", json_schema_extra={"example": 0.02})
    min_rows: int = Field(50, ge=1, description="fewest rows the data must have", json_schema_extra={"example": 1000})
    min_graph_pass_share: float | None = Field(None, ge=0.0, le=1.0, description="share of the graph's implied "
                                               "independences the data must not reject (tasks/graph/implications.py); "
                                               "unset: reported, not gated", json_schema_extra={"example": 0.8})

    def declared(self, gate: str) -> bool:
        """Whether the spec set this gate (then it stops the run), rather than leaving the default."""
        return gate in self.model_fields_set


class OverlapOptions(_Frozen):
    """Propensity model of the overlap diagnostics, and the trimming applied before estimation."""

    propensity_model: Literal["logistic", "lightgbm"] = Field("logistic", description="model of P(T=1|W) for "
                                                             "the overlap diagnostics, IPW, stratification and "
                                                             "matching", json_schema_extra={"example": "lightgbm"})
    trim: Any = Field("none", description="units removed before estimation: none, crump (Crump et al. 2009's "
                      "rule) or [low, high] propensity bounds", json_schema_extra={"example": [0.05, 0.95]})

    @model_validator(mode="after")
    def _trim_rule(self) -> OverlapOptions:
        trim = self.trim.strip().lower() if isinstance(self.trim, str) else self.trim
        if trim in ("none", "crump"):
            object.__setattr__(self, "trim", trim)
            return self
        ok = (isinstance(trim, (list, tuple)) and len(trim) == 2
              and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in trim)
              and 0 < trim[0] < trim[1] < 1)
        if not ok:
            raise ValueError(f"'trim' must be 'none', 'crump' or [low, high] with 0 < low < high < 1; got {trim!r}")
        object.__setattr__(self, "trim", (float(trim[0]), float(trim[1])))
        return self


class SensitivityOptions(_Frozen):
    """Cinelli-Hazlett benchmark: confounders `multiples` times as strong as covariate `benchmark`."""

    benchmark: str | None = Field(None, description="observed covariate that hidden confounders are measured "
                                  "against; unset: the covariate most associated with the treatment",
                                  json_schema_extra={"example": "user_activity"})
    multiples: list[float] = Field(default_factory=lambda: [1.0, 2.0, 3.0], min_length=1, max_length=10,
                                   description="hidden confounders this many times as strong as the benchmark, "
                                   "each in (0, 100]", json_schema_extra={"example": [0.5, 1, 2]})

    @model_validator(mode="after")
    def _positive(self) -> SensitivityOptions:
        if any(not 0 < k <= 100 for k in self.multiples):
            raise ValueError(f"'multiples' must be numbers in (0, 100]; got {self.multiples}")
        return self


class SampleOptions(_Frozen):
    """Analyse a seeded Bernoulli sample of the rows (streamed runs): every unit is kept with probability
    `rate` by a seeded hash of its id, the same rate in every stratum of `stratify_by`; the estimates are
    post-stratified to the full data's stratum counts and their intervals are those of the sample (wider
    by about 1/sqrt(rate)), so they account for the sampling."""

    rate: float = Field(gt=0.0, le=1.0, description="share of the rows kept, in (0, 1]",
                        json_schema_extra={"example": 0.1})
    stratify_by: list[str] = Field(default_factory=list, max_length=1, description="at most one categorical "
                                   "column whose strata are each sampled at `rate` and weighted by their full-data "
                                   "counts", json_schema_extra={"example": ["member_level"]})


class NuisanceModels(_Frozen):
    """The learners DML, DR, propensity and meta-learner estimators use for E[Y|X,W] and P(T=1|X,W)
    (estimators/nuisance.py). `auto` (the default) chooses per nuisance by cross-validated loss,
    preferring linear/logistic unless LightGBM is clearly better (tasks/estimate/nuisance_choice.py)."""

    outcome: Literal["auto", "linear", "lightgbm", "random_forest"] = Field(
        "auto", description="learner of E[Y|X,W]; auto chooses by cross-validated loss", json_schema_extra={"example": "lightgbm"})
    propensity: Literal["auto", "logistic", "lightgbm", "random_forest"] = Field(
        "auto", description="learner of P(T=1|X,W); auto chooses by cross-validated loss", json_schema_extra={"example": "logistic"})

    @model_validator(mode="before")
    @classmethod
    def _one_word(cls, value: Any) -> Any:
        """`nuisance: auto` (or linear, lightgbm, random_forest) sets both nuisances at once."""
        if isinstance(value, str):
            value = value.strip().lower()
            both = {"auto": ("auto", "auto"), "linear": ("linear", "logistic"), "logistic": ("linear", "logistic"),
                    "lightgbm": ("lightgbm", "lightgbm"), "random_forest": ("random_forest", "random_forest")}
            if value not in both:
                raise ValueError(f"'nuisance' must be auto, linear, lightgbm, random_forest or a mapping "
                                 f"{{outcome, propensity}}; got {value!r}")
            return dict(zip(("outcome", "propensity"), both[value]))
        return value


class DecisionSpec(_Frozen):
    """Whom to treat (tasks/decide/): the cost of treating one unit, in outcome units unless
    value_per_outcome converts one unit of outcome into the cost's currency; an optional budget (the
    share of units that may be treated); the features a rule may use (default: the effect modifiers)."""

    cost: float = Field(ge=0.0, description="cost of treating one unit, in outcome units unless "
                        "value_per_outcome converts", json_schema_extra={"example": 50})
    value_per_outcome: float = Field(1.0, gt=0.0, description="worth of one unit of outcome in the cost's "
                                     "currency", json_schema_extra={"example": 0.3})
    budget_share: float | None = Field(None, gt=0.0, le=1.0, description="largest share of units that may be "
                                       "treated; unset: no budget", json_schema_extra={"example": 0.2})
    features: list[str] = Field(default_factory=list, description="columns a targeting rule may use; empty: the "
                                "effect modifiers", json_schema_extra={"example": ["member_level"]})


class MissingPolicy(_Frozen):
    """What to do with missing values, per role (tasks/data/prepare.py records what was done)."""

    outcome: Literal["error", "drop"] = Field("error", description="rows without the outcome: an error (exit 2) or "
                                              "dropped and counted", json_schema_extra={"example": "drop"})
    covariates: Literal["error", "drop", "impute"] = Field(
        "drop", description="rows missing a covariate: an error, dropped and counted, or the covariate imputed "
        "(median or most frequent level) with an indicator column <name>_missing", json_schema_extra={"example": "impute"})


class NegativeControls(_Frozen):
    """Outcomes the treatment cannot affect and exposures that cannot affect the outcome: a sound
    estimator finds no effect on (of) them (tasks/evidence/refute.py, `negative_control`)."""

    outcomes: list[str] = Field(default_factory=list, description="columns the treatment cannot affect",
                                json_schema_extra={"example": ["last_year_gmv"]})
    exposures: list[str] = Field(default_factory=list, description="columns that cannot affect the outcome",
                                 json_schema_extra={"example": ["newsletter_opened"]})


class AnalysisSpec(_Frozen):
    """One analysis of params.yaml; paths are relative to base_dir (the params file's folder)."""

    name: str = Field(description="the analysis's name under `analyses:` (set by whyflow, not a key)")
    base_dir: Path = Field(description="the params file's folder (set by whyflow, not a key)")
    data: DataSource = Field(description="where the rows come from: `path` (Parquet/CSV) or `sql`",
                             json_schema_extra={"example": {"path": "data/raw/coupon_618.parquet"}})
    treatment: str = Field(description="column of the treatment (0/1 unless treatment_type: continuous)",
                           json_schema_extra={"example": "coupon_sent"})
    outcome: str = Field(description="column of the outcome", json_schema_extra={"example": "gmv"})
    graph: str | None = Field(None, description="causal graph file (.dot, .gv or .gml; latent nodes marked "
                              "[latent=true]), relative to params.yaml; give exactly one of graph or confounders",
                              json_schema_extra={"example": "data/graphs/coupon_618.dot"})
    confounders: list[str] | None = Field(None, description="columns that cause both treatment and outcome, "
                                          "instead of a drawn graph (whyflow builds the implied graph)",
                                          json_schema_extra={"example": ["age", "activity"]})
    instruments: list[str] = Field(default_factory=list, description="columns that move the treatment and reach "
                                   "the outcome only through it (IV estimators)", json_schema_extra={"example": ["distance_to_store"]})
    running_variable: str | None = Field(None, description="column whose crossing of `cutoff` assigns the "
                                         "treatment (regression discontinuity)", json_schema_extra={"example": "score"})
    cutoff: float | None = Field(None, description="threshold of the running variable; goes with "
                                 "running_variable", json_schema_extra={"example": 0.0})
    categorical: list[str] = Field(default_factory=list, description="numeric columns to treat as categories "
                                   "(one-hot or fixed effects; text columns always are)", json_schema_extra={"example": ["member_level"]})
    effect_modifiers: list[str] = Field(default_factory=list, description="columns the effect may vary with "
                                        "(X of the CATE estimators)", json_schema_extra={"example": ["member_level", "historical_gmv"]})
    segments: list[str] = Field(default_factory=list, description="columns whose levels get their own CATE in "
                                "the report", json_schema_extra={"example": ["member_level"]})
    estimand: Literal["ate", "att", "atc"] = Field("ate", description="average effect on everyone (ate), on the "
                                                   "treated (att) or on the untreated (atc)",
                                                   json_schema_extra={"example": "att"})
    treatment_type: Literal["binary", "continuous"] = Field("binary", description="binary (values 0/1) or "
                                                            "continuous (a dose)", json_schema_extra={"example": "continuous"})
    estimators: list[str] | None = Field(None, description="estimators to run (`whyflow estimators` lists them); "
                                         "unset: a recommended set for the design",
                                         json_schema_extra={"example": ["linear_regression", "ipw", "linear_dml"]})
    nuisance: NuisanceModels = Field(default_factory=NuisanceModels, description="learners of the nuisance models: "
                                     "one word for both (auto, linear, lightgbm, random_forest) or a mapping",
                                     json_schema_extra={"example": "lightgbm"})
    negative_controls: NegativeControls = Field(default_factory=NegativeControls, description="columns with a "
                                                "known zero effect; declaring any adds the negative_control refuter",
                                                json_schema_extra={"example": {"outcomes": ["last_year_gmv"]}})
    decision: DecisionSpec | None = Field(None, description="a targeting policy with its value and ROI "
                                          "(tasks/decide/); unset: no decision step",
                                          json_schema_extra={"example": {"cost": 50, "features": ["member_level"]}})
    sample: SampleOptions | None = Field(None, description="analyse a seeded sample of the rows (streamed "
                                         "runs), post-stratified, with intervals that account for the sampling",
                                         json_schema_extra={"example": {"rate": 0.1, "stratify_by": ["member_level"]}})
    unit_effects: bool = Field(False, description="write results/<analysis>/unit_effects.parquet beyond "
                               "1,000,000 rows too", json_schema_extra={"example": True})
    mediators: list[str] = Field(default_factory=list, description="variables through which the treatment acts: "
                                 "natural direct and indirect effects (tasks/mediation/), identified from the graph",
                                 json_schema_extra={"example": ["coupon_redeemed"]})
    proxies: list[str] = Field(default_factory=list, description="noisy measurements of a hidden confounder "
                               "(the graph marks it latent, with the proxies as its children); with no back-door "
                               "set, the effect is estimated by a latent-variable model (cevae, the deep extra)",
                               json_schema_extra={"example": ["income_bracket", "zip_density"]})
    treatment_values: dict[str, float] | None = Field(
        None, description="a labelled treatment mapped to 0/1 (values matched as text)",
        json_schema_extra={"example": {"yes": 1, "no": 0}})
    missing: MissingPolicy = Field(default_factory=MissingPolicy, description="what to do with missing values per "
                                   "role: outcome error|drop, covariates error|drop|impute",
                                   json_schema_extra={"example": {"outcome": "drop", "covariates": "impute"}})
    dates: Literal["error", "expand"] = Field("error", description="date covariates: refused (error) or replaced by "
                                              "days since their earliest date (expand)",
                                              json_schema_extra={"example": "expand"})
    estimator_options: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per estimator, its "
                                                         "options (checked against the estimator's Options before "
                                                         "any work)", json_schema_extra={"example": {"causal_forest": {"n_estimators": 200}}})
    refuters: list[str] = Field(default_factory=lambda: list(DEFAULT_REFUTERS), description="checks that try to "
                                "refute each estimate (placebo, random_common_cause, data_subset, bootstrap, "
                                "dummy_outcome, unobserved_common_cause, plasmode, negative_control)",
                                json_schema_extra={"example": ["placebo", "data_subset", "plasmode"]})
    refute_simulations: int = Field(10, ge=2, le=1000, description="simulations per refuter and estimator",
                                    json_schema_extra={"example": 20})
    overlap: OverlapOptions = Field(default_factory=OverlapOptions, description="propensity model of the overlap "
                                    "diagnostics and the trimming before estimation",
                                    json_schema_extra={"example": {"propensity_model": "logistic", "trim": "crump"}})
    sensitivity: SensitivityOptions = Field(default_factory=SensitivityOptions, description="hidden-confounder "
                                            "benchmark (Cinelli & Hazlett 2020)",
                                            json_schema_extra={"example": {"benchmark": "user_activity"}})
    gates: Gates = Field(default_factory=Gates, description="thresholds on data and overlap: a gate you set stops "
                         "the run (exit 3), one left at its default warns", json_schema_extra={"example": {"min_common_support": 0.95}})
    seed: int = Field(42, ge=0, description="seed of every random choice: same inputs, same numbers", json_schema_extra={"example": 7})
    workers: int | None = Field(None, ge=1, le=64, description="processes for estimators, refuters and folds; "
                                "unset: one per core", json_schema_extra={"example": 2})
    # scale (tasks/stream_source.py): auto streams a Parquet directory/glob whose estimated in-memory
    # size exceeds memory_budget_gb; dask runs the same passes on dask_address or a LocalCluster
    engine: Literal["auto", "memory", "stream", "dask"] = Field("auto", description="memory, stream (out of core), "
                                                                "dask, or auto: stream a Parquet folder larger than "
                                                                "memory_budget_gb", json_schema_extra={"example": "stream"})
    memory_budget_gb: float = Field(4.0, gt=0, description="in-memory size above which engine: auto streams",
                                    json_schema_extra={"example": 16})
    chunk_rows: int = Field(250_000, ge=1000, description="rows per streamed chunk (2.5e5 fits the caches better "
                            "than 1e6)", json_schema_extra={"example": 100000})
    unit_id: str | None = Field(None, description="column whose hash assigns cross-fitting folds; unset: the row "
                                "number", json_schema_extra={"example": "user_id"})
    dask_address: str | None = Field(None, description="Dask scheduler address; unset: $WHYFLOW_DASK_ADDRESS, else a "
                                     "LocalCluster", json_schema_extra={"example": "tcp://scheduler:8786"})

    @model_validator(mode="after")
    def _roles_fit_together(self) -> AnalysisSpec:
        if self.treatment == self.outcome:
            raise ValueError(f"treatment and outcome must differ; both are {self.treatment!r}")
        if self.graph is not None and self.confounders is not None:
            raise ValueError("give exactly one of 'graph' (a DOT/GML file) or 'confounders' (a list)")
        if self.graph is None and self.confounders is None:
            if self.running_variable is None:  # a running variable and a cutoff are a whole design
                raise ValueError("give exactly one of 'graph' (a DOT/GML file) or 'confounders' (a list)")
            object.__setattr__(self, "confounders", [])
        if self.graph is not None and Path(self.graph).suffix.lower() not in (".dot", ".gv", ".gml"):
            raise ValueError(f"graph must be a .dot, .gv or .gml file; got {self.graph!r}")
        if (self.running_variable is None) != (self.cutoff is None):
            raise ValueError("'running_variable' and 'cutoff' go together")
        roles = {self.treatment, self.outcome}
        if self.running_variable in roles:
            raise ValueError(f"'running_variable' must not be the treatment or outcome; got {self.running_variable!r}")
        if self.running_variable in self.instruments:
            raise ValueError(f"'running_variable' must not also be an instrument; got {self.running_variable!r}")
        for key in ("confounders", "instruments", "effect_modifiers"):
            clash = roles.intersection(getattr(self, key) or [])
            if clash:
                raise ValueError(f"'{key}' must not contain the treatment or outcome; got {sorted(clash)}")
        clash = roles.intersection(self.proxies) | set(self.proxies).intersection(self.instruments)
        if clash:
            raise ValueError(f"'proxies' must not name the treatment, outcome or an instrument; got {sorted(clash)}")
        if len(set(self.proxies)) != len(self.proxies):
            raise ValueError(f"'proxies' lists a column twice: {self.proxies}")
        controls = [*self.negative_controls.outcomes, *self.negative_controls.exposures]
        clash = roles.intersection(controls) | set(controls).intersection(self.confounders or [])
        if clash:
            raise ValueError(f"'negative_controls' must not name the treatment, outcome or a confounder; got {sorted(clash)}")
        if controls and "refuters" not in self.model_fields_set and "negative_control" not in self.refuters:
            object.__setattr__(self, "refuters", [*self.refuters, "negative_control"])
        if len(set(self.refuters)) != len(self.refuters):
            raise ValueError(f"'refuters' lists a refuter twice: {self.refuters}")
        if self.sample is not None and roles.intersection(self.sample.stratify_by):
            raise ValueError(f"'sample.stratify_by' must not name the treatment or outcome; got "
                             f"{sorted(roles.intersection(self.sample.stratify_by))}")
        if self.estimators is not None:
            if not self.estimators:
                raise ValueError("'estimators' is empty; name at least one or leave it out")
            if len(set(self.estimators)) != len(self.estimators):
                raise ValueError(f"'estimators' lists an estimator twice: {self.estimators}")
        return self

    def resolve(self, relative: str) -> Path:
        """A path from the spec, anchored at the params file's folder."""
        path = Path(relative)
        return path if path.is_absolute() else self.base_dir / path

    def content(self) -> dict[str, Any]:
        """The spec as plain JSON data, without the machine-specific base_dir."""
        return self.model_dump(mode="json", exclude={"base_dir"})

    def params_sha256(self) -> str:
        """Version of the parameters: sha256 of the canonical JSON of the validated spec."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def columns_needed(self) -> list[str]:
        """Every column the roles name (graph nodes are checked separately)."""
        named = [self.treatment, self.outcome, *(self.confounders or []), *self.instruments,
                 *self.effect_modifiers, *self.segments, *self.categorical, *self.negative_controls.outcomes,
                 *self.negative_controls.exposures, *(self.decision.features if self.decision else []),
                 *self.mediators, *self.proxies, *(self.sample.stratify_by if self.sample else [])]
        if self.running_variable:
            named.append(self.running_variable)
        if self.unit_id:
            named.append(self.unit_id)
        return list(dict.fromkeys(named))


def redact_url(url: str) -> str:
    """A connection URL with its password masked, for logs and MLflow."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: keep nothing that could be a secret
        return re.sub(r"//[^@/]*@", "//***@", url)


def _read_params(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SpecError(f"params file {str(path)!r} not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SpecError(f"params file {str(path)!r} is not valid YAML{where}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("analyses"), dict) or not raw["analyses"]:
        raise SpecError(f"params file {str(path)!r} must have a mapping 'analyses:' with at least one analysis")
    return raw


def list_analyses(params_path: str | Path) -> list[str]:
    return list(_read_params(Path(params_path))["analyses"])


def apply_overrides(raw: dict[str, Any], overrides: list[str] | dict[str, Any]) -> dict[str, Any]:
    """Apply KEY=VALUE (dotted keys, YAML values) to a copy of one analysis's raw mapping."""
    result = json.loads(json.dumps(raw))
    items = overrides.items() if isinstance(overrides, dict) else (_split(o) for o in overrides)
    for key, value in items:
        parts = key.split(".")
        node = result
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise SpecError(f"--set {key}: '{part}' is not a mapping in the spec")
            node = child
        node[parts[-1]] = value
    return result


def _split(override: str) -> tuple[str, Any]:
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set must be KEY=VALUE; got {override!r}")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        raise SpecError(f"--set {key}: value {text!r} is not valid YAML") from None
    return key.strip(), value


def _keys_at(path: tuple) -> list[str]:
    """The keys a spec accepts at a nested path (() is the analysis itself), in declaration order."""
    model: Any = AnalysisSpec
    for part in path:
        field = model.model_fields.get(part) if isinstance(part, str) and hasattr(model, "model_fields") else None
        nested = [a for a in (field.annotation, *get_args(field.annotation)) if isinstance(a, type)
                  and issubclass(a, BaseModel)] if field else []
        if not nested:
            return []
        model = nested[0]
    return [k for k in model.model_fields if k not in ("name", "base_dir")]


def _format_error(analysis: str, error: ValidationError) -> str:
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        parent = ".".join(str(p) for p in first["loc"][:-1])
        keys = _keys_at(first["loc"][:-1])
        hint = did_you_mean(str(first["loc"][-1]), [f"{parent}.{k}" if parent else k for k in keys])
        listed = f"keys of '{parent}'" if parent else "keys"
        return f"analysis '{analysis}': unknown key '{loc}'{hint or ';'} {listed}: {', '.join(keys)}"
    if first["type"] == "missing":
        return f"analysis '{analysis}': key '{loc}' is required"
    where = f"key '{loc}': " if loc else ""
    got = "" if first["type"] == "value_error" else f"; got {first.get('input')!r}"
    return f"analysis '{analysis}': {where}{message}{got}"


def load_spec(
    params_path: str | Path, analysis: str, overrides: list[str] | dict[str, Any] | None = None
) -> AnalysisSpec:
    """Read params.yaml, pick one analysis, apply overrides, validate: one-line SpecError if wrong."""
    path = Path(params_path).resolve()
    analyses = _read_params(path)["analyses"]
    if analysis not in analyses:
        raise SpecError(f"analysis '{analysis}' not in {str(params_path)!r}; found {sorted(analyses)}")
    raw = analyses[analysis]
    if not isinstance(raw, dict):
        raise SpecError(f"analysis '{analysis}' must be a mapping of keys; got {type(raw).__name__}")
    if "name" in raw or "base_dir" in raw:
        raise SpecError(f"analysis '{analysis}': keys 'name' and 'base_dir' are set by whyflow")
    merged = apply_overrides(raw, overrides or [])
    try:
        return AnalysisSpec(name=analysis, base_dir=path.parent, **merged)
    except ValidationError as exc:
        raise SpecError(_format_error(analysis, exc)) from None
