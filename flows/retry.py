"""Retries with backoff for transient failures only: a tracking server briefly unreachable, a locked
SQLite file. Bad input (any WhyflowError) and failed gates fail at once: retrying cannot fix them."""

from __future__ import annotations

from typing import Any

__all__ = ["is_transient", "retry_on_transient", "retry_options", "step"]

# Messages of errors that go away by themselves. MLflow wraps every SQLAlchemy OperationalError as
# TEMPORARILY_UNAVAILABLE, including "no such table", so the error code alone is not enough.
_TRANSIENT_TEXT = (
    "database is locked",
    "database table is locked",
    "could not obtain lock",
    "connection refused",
    "connection reset",
    "max retries exceeded",
    "temporarily unavailable",
    "timed out",
    "remote end closed connection",
    "server closed the connection unexpectedly",
)
_TRANSIENT_MLFLOW_CODES = {"REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED", "SERVICE_UNDER_MAINTENANCE",
                           "RESOURCE_EXHAUSTED"}


def _transient_types() -> tuple[type[BaseException], ...]:
    kinds: list[type[BaseException]] = [ConnectionError, TimeoutError]
    try:
        import requests

        kinds += [requests.exceptions.ConnectionError, requests.exceptions.Timeout]
    except ImportError:  # pragma: no cover - requests comes with MLflow
        pass
    try:
        import httpx

        kinds.append(httpx.TransportError)
    except ImportError:  # pragma: no cover - httpx comes with Prefect
        pass
    return tuple(kinds)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return seen


def is_transient(exc: BaseException) -> bool:
    """True when retrying later may succeed: network trouble or a locked database, anywhere in the
    exception's chain; False for whyflow's own errors (bad input, failed gates) and everything else."""
    from whyflow.errors import WhyflowError

    kinds = _transient_types()
    for link in _chain(exc):
        if isinstance(link, WhyflowError):
            return False  # a deliberate verdict on the input, whatever caused it
        if isinstance(link, kinds):
            return True
        if getattr(link, "error_code", None) in _TRANSIENT_MLFLOW_CODES:
            return True
        text = str(link).lower()
        if any(marker in text for marker in _TRANSIENT_TEXT):
            return True
    return False


def retry_on_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: retry a failed task only when its exception is transient."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            exc = state.result(raise_on_failure=False)
        except Exception as raised:  # a result that cannot be loaded is not a reason to retry
            exc = raised
    return isinstance(exc, BaseException) and is_transient(exc)


def retry_options() -> dict[str, Any]:
    """Task options: 3 retries after about 2, 4 and 8 s (jittered), enough for a restarting tracking
    server or another process's long SQLite write; only when retry_on_transient agrees."""
    from prefect.tasks import exponential_backoff

    return {"retries": 3, "retry_delay_seconds": exponential_backoff(backoff_factor=2),
            "retry_jitter_factor": 0.5, "retry_condition_fn": retry_on_transient}


def step(fn, name: str, *, io: bool = False):
    """A plain function as a Prefect task: never cached (every run recomputes from its inputs); steps that
    talk to MLflow, DVC or a database (`io`) retry on transient errors."""
    from prefect import task
    from prefect.cache_policies import NO_CACHE

    return task(fn, name=name, cache_policy=NO_CACHE, **(retry_options() if io else {}))
