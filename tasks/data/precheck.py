"""The data checked before any orchestration: `whyflow run` reads a file or SQL source once and reports
every problem in one message (exit 2) before Prefect, MLflow or DVC start, in well under a second for
a small file. The flow checks the same data again, so a run started another way is held to it too."""

from __future__ import annotations

from tasks.data.prepare import prepare_data
from tasks.data.snapshot import read_source
from tasks.data.validate import validate_inputs
from tasks.graph.model import load_graph
from tasks.identify.effect import identify_effect
from tasks.scale.source import EngineChoice
from whyflow.spec import AnalysisSpec

__all__ = ["check_data_first"]


def check_data_first(spec: AnalysisSpec, engine: EngineChoice) -> None:
    """DataError/GraphError/IdentificationError naming what is wrong, for sources analysed in memory
    (a streamed source is checked on its first chunk by the streamed flow: reading it all here would
    cost a pass over the data)."""
    if engine.kind != "memory":
        return
    from tasks.plan import plan_analysis

    frame, graph = read_source(spec), load_graph(spec)
    validate_inputs(prepare_data(frame, spec, [])[0], spec, graph)  # every problem of the roles at once
    plan = plan_analysis(spec, identify_effect(graph, spec), engine)
    prepare_data(frame, spec, plan.covariates)  # the covariates' policies (dates, missing values)
