"""CONTRIBUTING.md's worked example: adding an estimator is one module and one registry line."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from estimators import registry
from tests.estimators.test_estimators import linear_data

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def example_module(tmp_path, monkeypatch):
    """The module exactly as CONTRIBUTING.md shows it, registered by adding its one line to _MODULES."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    package = tmp_path / "contrib"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "difference_in_means.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_MODULES", (*registry._MODULES, "contrib.difference_in_means"))
    yield
    registry._REGISTRY.pop("difference_in_means", None)
    sys.modules.pop("contrib.difference_in_means", None)


def test_the_documented_estimator_runs_through_the_registry_and_the_plan(example_module, tmp_path):
    from tasks.estimate.effects import estimate_effects
    from tasks.plan import preflight
    from whyflow.errors import SpecError
    from whyflow.spec import AnalysisSpec

    assert "difference_in_means" in registry.available()
    row = next(r for r in registry.describe() if r["name"] == "difference_in_means")
    assert row["options"] == {"welch": "Welch (unequal variances) standard error (default True)"}
    spec = AnalysisSpec(name="a", base_dir=tmp_path, data={"path": "d.csv"}, treatment="t", outcome="y",
                        confounders=["w0"], estimators=["difference_in_means"],
                        estimator_options={"difference_in_means": {"welch": False}})
    preflight(spec)
    data, _ = linear_data(n=2000, seed=1)
    [estimate] = estimate_effects(data, spec, spec.estimators)
    y1, y0 = data.Y[data.T == 1], data.Y[data.T == 0]
    assert estimate.ok and np.isclose(estimate.value, y1.mean() - y0.mean())
    with pytest.raises(SpecError, match="estimator_options.difference_in_means: unknown option 'welsh'; accepted: welch"):
        preflight(spec.model_copy(update={"estimator_options": {"difference_in_means": {"welsh": False}}}))
