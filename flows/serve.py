"""`whyflow serve`: the deployments of DESIGN.md, with typed parameters so the Prefect UI shows a form.

- flow `analysis`, deployment `whyflow`: parameter `analysis` (a choice among the analyses of the
  params file, read when serving) and optional typed `overrides`; runs flows.analysis exactly as
  `whyflow run` does.
- flow `reproduce`, deployment `whyflow`: parameter `run_id`.
- flow `monitor`, deployment `whyflow`: optional `analyses`; scheduled when `monitor.schedule` (cron)
  is set in params.yaml or --monitor-cron is given.
- flow `compare`, deployment `whyflow`: parameters `run_a`, `run_b` (optional `estimators`).
The params file is fixed when serving (the choice list is built from it), so it is not a parameter.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from prefect import Flow, flow
from pydantic import BaseModel, ConfigDict, Field

from estimators.registry import available
from tasks.evidence.refute import REFUTERS
from whyflow.spec import list_analyses

__all__ = ["GateOverrides", "AnalysisOverrides", "build_flows", "wait_for_api", "serve_deployments", "DEPLOYMENT"]

log = logging.getLogger(__name__)
DEPLOYMENT = "whyflow"

EstimatorName = Literal[tuple(available())]  # type: ignore[valid-type]  # the registry, fixed by the code
RefuterName = Literal[tuple(REFUTERS)]  # type: ignore[valid-type]


class GateOverrides(BaseModel):
    """Gates to change for this run only; empty fields keep the values of params.yaml."""

    model_config = ConfigDict(extra="forbid")

    min_common_support: float | None = Field(None, ge=0.0, le=1.0,
                                             description="share of units inside the common support")
    max_smd_after_weighting: float | None = Field(None, gt=0.0, description="largest |SMD| allowed after weighting")
    max_null_fraction: float | None = Field(None, ge=0.0, le=1.0,
                                            description="largest share of missing values per column")
    min_rows: int | None = Field(None, ge=1, description="fewest rows to analyse")
    min_graph_pass_share: float | None = Field(
        None, ge=0.0, le=1.0, description="share of the graph's implied independences the data must keep")


class AnalysisOverrides(BaseModel):
    """Spec keys to change for this run only (what `whyflow run --set` does); empty keeps params.yaml."""

    model_config = ConfigDict(extra="forbid")

    estimators: list[EstimatorName] | None = Field(None,
                                                   description="estimators to run (whyflow estimators lists them)")
    refuters: list[RefuterName] | None = Field(None, description="refuters to try on each estimate")
    seed: int | None = Field(None, ge=0, description="seed of every random choice")
    refute_simulations: int | None = Field(None, ge=2, le=1000, description="simulations per refuter")
    gates: GateOverrides | None = None

    def as_overrides(self) -> dict[str, Any]:
        """Dotted keys for whyflow.spec.apply_overrides, only for the fields set."""
        flat = {k: v for k, v in self.model_dump(exclude_none=True, exclude={"gates"}).items()}
        if self.gates is not None:
            flat |= {f"gates.{k}": v for k, v in self.gates.model_dump(exclude_none=True).items()}
        return flat


def _analysis_flow(params_file: str, names: list[str]) -> Flow:
    from flows import analysis as analysis_module
    from flows.artifacts import publish_failure
    from whyflow.errors import GateFailed

    def analysis(analysis: str, overrides: AnalysisOverrides | None = None) -> dict:
        """Run one analysis of params.yaml end to end and log it to MLflow (as `whyflow run` does).

        Args:
            analysis: the analysis of params.yaml to run
            overrides: spec keys changed for this run only; empty keeps params.yaml
        """
        changes = overrides.as_overrides() if overrides else {}
        try:
            return analysis_module.analysis.fn(analysis=analysis, params_file=params_file, overrides=changes)
        except GateFailed as exc:
            publish_failure(Path(params_file).parent, analysis, str(exc), exc.run_id)
            raise

    # The choice list exists only now, from the params file; Prefect builds the form from these.
    choice = Literal[tuple(names)]  # type: ignore[valid-type]
    analysis.__annotations__ = {"analysis": choice, "overrides": AnalysisOverrides | None, "return": dict}
    return flow(analysis, name="analysis", log_prints=False)


def _reproduce_flow(params_file: str) -> Flow:
    from flows import reproduce as reproduce_module
    from flows.artifacts import publish_reproduction

    def reproduce(run_id: str) -> dict:
        """Re-execute a logged MLflow run from its recorded versions and compare every metric.

        Args:
            run_id: the MLflow run id (printed by `whyflow run`, shown in the analysis run's artifacts)
        """
        report = reproduce_module.reproduce.fn(run_id=run_id, params_file=params_file)
        publish_reproduction(Path(params_file).parent, report)
        return report

    return flow(reproduce, name="reproduce", log_prints=False)


def _monitor_flow(params_file: str, names: list[str]) -> Flow:
    from flows import monitor as monitor_module

    def monitor(analyses: list[str] | None = None) -> list[dict]:
        """Compare the latest run of each analysis with the ones before it; fail with the alerts.

        Args:
            analyses: analyses to check; empty checks every analysis of params.yaml
        """
        return monitor_module.monitor.fn(params_file=params_file, analyses=analyses)

    choice = Literal[tuple(names)]  # type: ignore[valid-type]
    monitor.__annotations__ = {"analyses": list[choice] | None, "return": list[dict]}
    return flow(monitor, name="monitor", log_prints=False)


def _compare_flow(params_file: str) -> Flow:
    from flows import compare as compare_module

    def compare(run_a: str, run_b: str, estimators: list[str] | None = None) -> dict:
        """Why the estimate moved from run A to run B: data, graph, params and code shares (exact replays).

        Args:
            run_a: the earlier MLflow run id
            run_b: the later MLflow run id
            estimators: estimators to attribute; empty: every estimator logged in both runs
        """
        return compare_module.compare.fn(run_a=run_a, run_b=run_b, estimators=estimators, params_file=params_file)

    return flow(compare, name="compare", log_prints=False)


def build_flows(params_file: str | Path) -> dict[str, Flow]:
    """The served flows by name, bound to this params file (validated first: bad file, exit 2)."""
    path = str(Path(params_file).resolve())
    names = list_analyses(path)
    return {"analysis": _analysis_flow(path, names), "reproduce": _reproduce_flow(path),
            "monitor": _monitor_flow(path, names), "compare": _compare_flow(path)}


def wait_for_api(api_url: str, timeout: float = 120.0) -> None:
    """Block until the Prefect server answers, so `whyflow serve` may start alongside it (a service
    manager, docker compose); WhyflowError naming the URL after `timeout` seconds."""
    import time

    import httpx

    from whyflow.errors import WhyflowError

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{api_url.rstrip('/')}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise WhyflowError(f"the Prefect API at {api_url} did not answer within {timeout:.0f} s; "
                               "is `prefect server start` running?")
        time.sleep(0.5)


def serve_deployments(params_file: str | Path, monitor_cron: str | None = None, limit: int | None = None) -> None:
    """Register the three deployments with the Prefect API and run their flow runs until stopped."""
    from prefect.runner import Runner
    from prefect.settings import PREFECT_API_URL

    from tasks.monitor import load_monitor_spec

    flows = build_flows(params_file)
    cron = monitor_cron or load_monitor_spec(params_file).schedule
    wait_for_api(PREFECT_API_URL.value())
    # Runner.add_flow (not prefect.serve(*deployments)) keeps the flow objects, so runs execute these
    # in-memory flows: their choice lists are built at serve time, not importable from a file.
    runner = Runner(name="whyflow", pause_on_shutdown=False, limit=limit)
    tags = ["whyflow"]
    runner.add_flow(flows["analysis"], name=DEPLOYMENT, tags=tags)
    runner.add_flow(flows["reproduce"], name=DEPLOYMENT, tags=tags)
    runner.add_flow(flows["monitor"], name=DEPLOYMENT, tags=tags, cron=cron)
    runner.add_flow(flows["compare"], name=DEPLOYMENT, tags=tags)
    log.info("serving analysis/%s, reproduce/%s and monitor/%s%s", DEPLOYMENT, DEPLOYMENT, DEPLOYMENT,
             f" (monitor on cron {cron!r})" if cron else "")
    import asyncio

    asyncio.run(runner.start())
