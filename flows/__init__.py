"""Prefect flows and the whyflow CLI; the only package that knows Prefect exists."""

import os

# Set before Prefect, MLflow or GX load: no telemetry from a machine that may have no network, and
# whyflow's own progress lines routed through Prefect's handlers (terminal and the Prefect UI).
for _name, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "tasks,estimators,whyflow",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",  # the same task functions also run outside flows
    "GX_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    # Prefect's temporary server waits 20 s by default; a busy 2-core machine needed longer here
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}.items():
    os.environ.setdefault(_name, _value)

from whyflow.threads import pin_threads as _pin_threads

_pin_threads()  # before numpy loads anywhere in a flow or CLI process (whyflow/threads.py says why)

import logging as _logging  # noqa: E402

for _logger in ("tasks", "estimators", "whyflow"):
    _logging.getLogger(_logger).setLevel(_logging.INFO)
_logging.getLogger("great_expectations").setLevel(_logging.WARNING)
