"""Tracking: one MLflow run per flow run, through an explicit client (no global active run)."""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

from whyflow import constants as C
from whyflow.spec import AnalysisSpec, redact_url

__all__ = ["run_name", "client", "safe_uri", "logged_spec", "tracking_uri", "start_run", "log_metrics", "log_curves", "log_artifacts", "log_dataset", "set_tags", "finish_run",
           "flat_params"]

log = logging.getLogger(__name__)


def tracking_uri(base_dir: Path) -> str:
    """MLFLOW_TRACKING_URI when set, else SQLite next to params.yaml (DESIGN.md)."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{base_dir / C.DEFAULT_TRACKING_DB}"


def safe_uri(base_dir: Path) -> str:
    """The tracking URI with any password masked, for messages and logs."""
    return redact_url(tracking_uri(base_dir))


def client(base_dir: Path):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri(base_dir))


def _experiment(store, name: str, base_dir: Path) -> str:
    found = store.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if "MLFLOW_TRACKING_URI" not in os.environ:
        location = (base_dir / C.DEFAULT_ARTIFACT_DIR / name).as_uri()
    try:
        return store.create_experiment(name, artifact_location=location)
    except Exception:  # created meanwhile by a concurrent run
        return store.get_experiment_by_name(name).experiment_id


def logged_spec(spec: AnalysisSpec) -> dict[str, Any]:
    """The validated spec as logged (versions/spec.json): what a reproduction runs again."""
    content = spec.content()
    if content["data"].get("sql"):
        content["data"]["sql"]["url"] = redact_url(content["data"]["sql"]["url"])
    return content


def flat_params(spec: AnalysisSpec) -> dict[str, str]:
    """The spec as dotted MLflow params; connection URLs with passwords masked."""
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(f"{prefix}.{key}" if prefix else key, child)
        else:
            flat[prefix] = json.dumps(value) if isinstance(value, (list, dict)) else str(value)

    walk("", logged_spec(spec))
    return {k: v[:6000] for k, v in flat.items()}


def run_name(spec: AnalysisSpec, versions: dict[str, Any], overrides: dict[str, Any] | None = None) -> str:
    """`<analysis>-<md5[:8]>`, plus the command-line overrides, so runs with other settings read apart."""
    name = f"{spec.name}-{str(versions['data_md5'])[:8]}"
    if overrides:
        name += " " + " ".join(f"{k}={json.dumps(v) if isinstance(v, (list, dict)) else v}" for k, v in overrides.items())
    return redact_url(name)[:250]


def start_run(spec: AnalysisSpec, versions: dict[str, Any], overrides: dict[str, Any] | None = None) -> str:
    """Create the run with every version tag set up front, so even a failed run is reproducible."""
    from mlflow.entities import Param

    store = client(spec.base_dir)
    experiment = _experiment(store, spec.name, spec.base_dir)
    tags = {C.VERSION_TAGS[k]: str(v).lower() if isinstance(v, bool) else str(v) for k, v in versions.items()}
    run = store.create_run(experiment, run_name=run_name(spec, versions, overrides), tags=tags)
    store.log_batch(run.info.run_id, params=[Param(k, v) for k, v in flat_params(spec).items()])
    log.info("MLflow run %s in experiment %r (%s)", run.info.run_id, spec.name, safe_uri(spec.base_dir))
    return run.info.run_id


def log_metrics(base_dir: Path, run_id: str, metrics: dict[str, float | None]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(k, float(v), now, 0) for k, v in metrics.items()
             if v is not None and isinstance(v, (int, float)) and math.isfinite(v)]
    store = client(base_dir)
    for start in range(0, len(batch), 1000):
        store.log_batch(run_id, metrics=batch[start:start + 1000])


def log_curves(base_dir: Path, run_id: str, curves: dict[str, list[float]]) -> None:
    """Each curve as one metric with a step per point (epochs), so the MLflow UI draws it; points that
    are not finite (a member that stopped early) are left out."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(key, float(v), now, step) for key, values in curves.items() for step, v in enumerate(values)
             if math.isfinite(v)]
    store = client(base_dir)
    for start in range(0, len(batch), 1000):
        store.log_batch(run_id, metrics=batch[start:start + 1000])


def set_tags(base_dir: Path, run_id: str, tags: dict[str, str]) -> None:
    store = client(base_dir)
    for key, value in tags.items():
        store.set_tag(run_id, key, value)


def log_artifacts(base_dir: Path, run_id: str, directory: Path, artifact_path: str | None = None) -> None:
    client(base_dir).log_artifacts(run_id, str(directory), artifact_path)


def log_dataset(base_dir: Path, run_id: str, frame, *, name: str, source: str, digest: str, outcome: str) -> None:
    """The snapshot as an MLflow dataset input (mlflow.log_input), named by its DVC md5."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    from mlflow.exceptions import MlflowException

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's hints on source kinds and integer schemas: not actionable here
        try:
            dataset = mlflow.data.from_pandas(frame, source=source, name=name, targets=outcome, digest=digest[:20])
        except MlflowException:  # a SQL source ("<url> table=...") is no path MLflow can resolve: its
            # description stays in the run's whyflow.data.path tag and params
            dataset = mlflow.data.from_pandas(frame, name=name, targets=outcome, digest=digest[:20])
        entity = DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", "snapshot")])
    client(base_dir).log_inputs(run_id, datasets=[entity])


def finish_run(base_dir: Path, run_id: str, status: str, reason: str | None = None) -> None:
    store = client(base_dir)
    if reason:
        store.set_tag(run_id, C.TAG_FAILURE, reason[:5000])
    store.set_terminated(run_id, status=status)

