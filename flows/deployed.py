"""Entrypoints for `prefect deploy` (prefect.yaml): the typed flows of `whyflow serve`, built from
the params file in the working directory (or WHYFLOW_PARAMS) when a worker or `prefect deploy`
loads this file."""

from __future__ import annotations

import os

from flows.serve import build_flows

__all__ = ["analysis", "compare", "monitor", "reproduce"]

_flows = build_flows(os.environ.get("WHYFLOW_PARAMS", "params.yaml"))
analysis = _flows["analysis"]
reproduce = _flows["reproduce"]
monitor = _flows["monitor"]
compare = _flows["compare"]
