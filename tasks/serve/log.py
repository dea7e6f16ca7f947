"""Log a finished run's served models as one MLflow pyfunc, registered under the analysis name.

One registered model per analysis (name = the analysis), one version per successful run, tagged with
the run's whyflow.* version tags; the model sits in the run's artifacts under `served_model/` with
its signature and an input example, so `mlflow models serve -m models:/<analysis>/<version>
--env-manager local` serves it as it is. A failure never fails the run: it is logged as a warning and
recorded in the run's tags (`whyflow.warnings`, `whyflow.serve.status`).

The model is a pickle: it is loaded only from this project's own MLflow store (never unpickle a
model whose origin you do not control).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import warnings as py_warnings
from importlib import metadata
from pathlib import Path
from typing import Iterator

from tasks.record import tracking
from tasks.record.result import RunResult
from whyflow import constants as C
from whyflow.spec import AnalysisSpec

__all__ = ["log_served_models", "ENV_SWITCH", "ARTIFACT_PATH", "TAG_SERVE_STATUS", "TAG_SERVE_SECONDS",
           "registered_name"]

log = logging.getLogger(__name__)
ARTIFACT_PATH = "served_model"
# "registered <name> version <n>", "not served: <why>" (by design) or "served model not logged: <why>" (a warning)
TAG_SERVE_STATUS = "whyflow.serve.status"
TAG_SERVE_SECONDS = "whyflow.serve.seconds"
ENV_SWITCH = "WHYFLOW_SERVE_MODELS"  # "0": runs log no served model (e.g. throwaway replays of `whyflow compare`)
_REQUIREMENTS = ("mlflow", "numpy", "pandas", "scipy", "scikit-learn", "econml", "lightgbm", "cloudpickle")


def registered_name(analysis: str) -> str:
    """The registry name of an analysis's served models: the analysis name itself."""
    return analysis


def _requirements() -> list[str]:
    pins = []
    for name in _REQUIREMENTS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def _signature(models):
    from mlflow.models.signature import ModelSignature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([ColSpec(models.encoder.codes[c].mlflow_type, c) for c in models.features])
    outputs = Schema([ColSpec(kind, name) for name, kind in models.outputs()])
    return ModelSignature(inputs=inputs, outputs=outputs)


def _version_tags(result: RunResult) -> dict[str, str]:
    return {C.VERSION_TAGS[k]: str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in result.versions.items() if k in C.VERSION_TAGS}


def _register(store, name: str, source: str, run_id: str, tags: dict[str, str]):
    from mlflow.exceptions import MlflowException

    try:
        store.create_registered_model(name, tags={C.TAG_ANALYSIS: name},
                                      description=f"whyflow: propensity, CATE and policy of analysis {name!r}")
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    return store.create_model_version(name, source, run_id=run_id, tags=tags, await_creation_for=0)


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's advice on type hints and on pickled python_model objects: not actionable here (the
    model is ours and loaded only from our store, see the module notes)."""
    logger = logging.getLogger("mlflow.pyfunc")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with py_warnings.catch_warnings():
            py_warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _log(spec: AnalysisSpec, run_id: str, result: RunResult) -> tuple[str, list[str]]:
    from tasks.serve.build import build_served_models

    models, example, notes = build_served_models(spec, run_id, result)
    store = tracking.client(spec.base_dir)
    with tempfile.TemporaryDirectory() as tmp, _quiet_mlflow():
        import mlflow.pyfunc

        from tasks.serve.model import ServedRun

        path = Path(tmp) / ARTIFACT_PATH
        mlflow.pyfunc.save_model(str(path), python_model=ServedRun(models), signature=_signature(models),
                                 input_example=example, pip_requirements=_requirements(),
                                 metadata={"whyflow_run_id": run_id, "whyflow_analysis": spec.name})
        store.log_artifacts(run_id, str(path), ARTIFACT_PATH)
    source = f"{store.get_run(run_id).info.artifact_uri.rstrip('/')}/{ARTIFACT_PATH}"
    version = _register(store, registered_name(spec.name), source, run_id,
                        _version_tags(result) | {"whyflow.run_id": run_id})
    return f"registered {registered_name(spec.name)} version {version.version}", notes


def log_served_models(spec: AnalysisSpec, run_id: str, result: RunResult) -> str | None:
    """Log and register the run's served models; returns the warning when they could not be (the
    run goes on either way)."""
    started = time.perf_counter()
    from tasks.serve.build import NotServed

    try:
        if os.environ.get(ENV_SWITCH, "1").strip() == "0":
            raise NotServed(f"{ENV_SWITCH}=0")
        status, notes = _log(spec, run_id, result)
    except NotServed as exc:  # by design (another design, a streamed run): said in the tag, not a warning
        status, notes = f"not served: {exc}", []
    except Exception as exc:  # never fails the run: recorded as a warning on it
        status, notes = None, [f"served model not logged: {type(exc).__name__}: {exc}"]
    seconds = time.perf_counter() - started
    tags = {TAG_SERVE_STATUS: (status or notes[-1])[:5000], TAG_SERVE_SECONDS: f"{seconds:.2f}"}
    if notes:
        for note in notes:
            log.warning("%s", note)
        tags[C.TAG_WARNINGS] = " | ".join([*result.warnings, *notes])[:5000]
    else:
        log.info("served models: %s in %.1f s", status, seconds)
    try:
        tracking.set_tags(spec.base_dir, run_id, tags)
    except Exception as exc:  # the tracking store itself is failing: the run's own steps will say so
        log.warning("could not tag the served model's status: %s", exc)
    return None if status and not notes else " | ".join(notes)
