"""Find the served model of an analysis in the MLflow model registry: a version, a run, or the latest
successful run's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tasks.record import tracking
from tasks.serve.log import TAG_SERVE_STATUS, registered_name
from whyflow.constants import EXIT_BAD_INPUT
from whyflow.errors import WhyflowError

__all__ = ["ServedModelNotFound", "ServedVersion", "find_served_model"]


class ServedModelNotFound(WhyflowError):
    """No served model for the analysis, run or version asked (exit 2)."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class ServedVersion:
    analysis: str
    version: int
    run_id: str
    source: str
    tags: dict[str, str]
    note: str | None = None  # e.g. the latest successful run has no served model, an older one is served


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def find_served_model(base_dir: Path, analysis: str, *, run_id: str | None = None,
                      version: int | None = None) -> ServedVersion:
    """The model version to serve: `version`, or the one logged by `run_id`, or (default) the newest
    version whose run finished successfully."""
    store = tracking.client(base_dir)
    name = registered_name(analysis)
    versions = sorted(store.search_model_versions(f"name = {_quoted(name)}"), key=lambda v: -int(v.version))
    if not versions:
        known = sorted(m.name for m in store.search_registered_models())
        raise ServedModelNotFound(f"analysis {analysis!r} has no served model in {tracking.safe_uri(base_dir)}; "
                                  f"run `whyflow run {analysis}` first"
                                  + (f" (served analyses: {', '.join(known)})" if known else ""))
    chosen, note = None, None
    if version is not None:
        chosen = next((v for v in versions if int(v.version) == version), None)
        if chosen is None:
            raise ServedModelNotFound(f"analysis {analysis!r} has no model version {version}; versions: "
                                      f"{', '.join(str(v.version) for v in versions[:20])}")
    elif run_id is not None:
        chosen = next((v for v in versions if v.run_id == run_id), None)
        if chosen is None:
            raise ServedModelNotFound(f"run {run_id!r} has no served model of analysis {analysis!r}; runs with one: "
                                      f"{', '.join(v.run_id for v in versions[:10])}")
    else:
        for candidate in versions:
            if store.get_run(candidate.run_id).info.status == "FINISHED":
                chosen = candidate
                break
        if chosen is None:
            raise ServedModelNotFound(f"analysis {analysis!r} has no served model from a successful run")
        experiment = store.get_experiment_by_name(analysis)
        latest = store.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'",
                                   order_by=["attributes.start_time DESC"], max_results=1) if experiment else []
        if latest and latest[0].info.run_id != chosen.run_id:
            why = latest[0].data.tags.get(TAG_SERVE_STATUS, "no served model logged")
            note = (f"the latest successful run {latest[0].info.run_id} has no served model ({why}); "
                    f"serving run {chosen.run_id}")
    return ServedVersion(analysis, int(chosen.version), chosen.run_id, chosen.source, dict(chosen.tags), note)
