import importlib

import pytest

MODULES = ["whyflow", "whyflow.spec", "whyflow.errors", "whyflow.constants", "whyflow.threads", "whyflow.versions",
           "whyflow.parallel", "estimators", "estimators.base", "estimators.registry", "estimators.propensity",
           "tasks.snapshot", "tasks.quality", "tasks.graph", "tasks.identify", "tasks.overlap", "tasks.estimate",
           "tasks.refute", "tasks.report", "tasks.tracking", "tasks.record", "tasks.results", "tasks.validate",
           "tasks.plots", "data.generate", "flows.cli",
           "tasks.strategies", "tasks.identify_report", "tasks.instruments", "tasks.encode", "tasks.ci_tests",
           "tasks.graph_tests", "tasks.discovery", "tasks.graph_diff", "tasks.graph_render", "data.synthetic_graphs",
           "flows.graph_cli",
           "flows.retry", "flows.snapshot_cache", "flows.artifacts", "flows.serve", "flows.monitor", "flows.fanout",
           "flows.cli_extra", "tasks.summary", "tasks.monitor", "tasks.fingerprint",
           "estimators.streaming", "estimators.stream_passes", "estimators.stream_fit", "estimators.stream_estimators",
           "tasks.stream_source", "tasks.stream_quality", "tasks.dask_engine", "flows.stream_analysis",
           "data.generate_large"]


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_imports(name):
    module = importlib.import_module(name)
    for public in module.__all__:
        assert hasattr(module, public), f"{name}.{public}"
