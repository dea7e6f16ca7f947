"""End to end through `whyflow run`: a continuous dose with VCNet writes dose_response.json (grid, curve,
band and the off-support share per dose), puts the curve in the report, and, because the simulated
dose is nearly determined by the covariates, warns that the curve is mostly extrapolation, on the
command line and in the MLflow run's warnings tag."""

import json

import numpy as np
import pytest

from tests.flows.test_run import mlflow_client, run, run_id_of

pytest.importorskip("jax")
pytestmark = pytest.mark.slow


def test_vcnet_run_writes_the_curve_with_its_off_support_share_and_warns(project, capsys, prefect_server):
    from data.dose_dgps import vcnet_style
    from whyflow import constants as C

    sim = vcnet_style(n=600, seed=5)
    sim.frame().to_parquet(project / "data/raw/dose.parquet")
    covariates = ", ".join(f"x{i + 1}" for i in range(6))
    with open(project / "params.yaml", "a") as params:
        params.write(f"""
  dose:
    data: {{path: data/raw/dose.parquet}}
    treatment: dose
    treatment_type: continuous
    outcome: y
    confounders: [{covariates}]
    estimators: [vcnet]
    refuters: []
    estimator_options:
      vcnet: {{members: 3, max_epochs: 60}}
""")
    code, out, err = run(project, capsys, "dose")
    assert code == 0, err
    curve = json.loads((project / "results/dose/dose_response.json").read_text())["vcnet"]
    grid, low, high = (np.array(curve[k]) for k in ("grid", "low", "high"))
    assert len(grid) == 21 and (low <= np.array(curve["mu"])).all() and (np.array(curve["mu"]) <= high).all()
    share = np.array(curve["off_support_share"])
    assert len(share) == 21 and ((share >= 0) & (share <= 1)).all() and np.median(share) > 0.2
    assert "mostly extrapolation" in out + err
    tags = mlflow_client(project).get_run(run_id_of(out)).data.tags
    assert "mostly extrapolation" in tags[C.TAG_WARNINGS]
    assert "dose-response curve" in (project / "results/dose/report.html").read_text()
