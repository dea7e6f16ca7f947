"""A new user's messy CSV (issue 21): the first attempt reports every data problem at once, before any
orchestration; the second, with the suggested keys, estimates and says what it did to the data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from flows.cli import main

pytestmark = pytest.mark.slow

PROMO = """  promo:
    data: {path: data/raw/promo.csv}
    treatment: got_promo
    outcome: spend
    confounders: [age, region, signup, flat]
    refuters: [placebo]
    refute_simulations: 5
    seed: 3
"""


def _messy(path, n: int = 3000) -> None:
    rng = np.random.default_rng(1)
    age = rng.normal(40, 10, n)
    region = rng.integers(0, 30, n)
    promo = rng.binomial(1, 1 / (1 + np.exp(-(age - 40) / 10)))
    spend = 0.05 * age + 0.02 * region + 2.0 * promo + rng.normal(size=n)
    frame = pd.DataFrame({"got_promo": np.where(promo == 1, "yes", "no"), "spend": spend, "age": age,
                          "region": [f"region {r}" for r in region],
                          "signup": (pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 400, n), "D"))
                          .strftime("%Y-%m-%d"), "flat": 1})
    frame.loc[:14, "spend"] = np.nan
    frame.loc[20:139, "age"] = np.nan
    frame.to_csv(path, index=False)


def test_every_problem_at_once_then_an_estimate_with_the_preparation_listed(project, capsys, prefect_server):
    _messy(project / "data/raw/promo.csv")
    params = project / "params.yaml"
    params.write_text(params.read_text() + PROMO)
    code = main(["run", "promo", "--params", str(params)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "2 problems with the data" in err
    assert "treatment column 'got_promo' must be numeric" in err and "treatment_values" in err
    assert "outcome column 'spend' has 15 null value(s)" in err and "missing: {outcome: drop}" in err
    assert not (project / "mlflow.db").exists()  # nothing started: no run, no snapshot
    assert not (project / "data/snapshots").exists()

    code = main(["run", "promo", "--params", str(params), "--set", 'treatment_values={"yes": 1, "no": 0}',
                 "--set", "missing.outcome=drop"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "column(s) ['signup'] hold dates; set dates: expand" in err

    code = main(["run", "promo", "--params", str(params), "--set", 'treatment_values={"yes": 1, "no": 0}',
                 "--set", "missing.outcome=drop", "--set", "dates=expand"])
    out, err = capsys.readouterr()
    assert code == 0, err
    # a one-off run (overrides): its files under runs/<run_id>/, the DVC-tracked results/promo/ untouched
    folder = project / "results/promo/runs" / out.strip().splitlines()[-1].split("=", 1)[1]
    assert not (project / "results/promo/estimates.json").exists()
    results = json.loads((folder / "estimates.json").read_text())
    assert abs(results["answer"]["estimate"] - 2.0) < 0.2
    preparation = json.loads((folder / "quality.json").read_text())["preparation"]
    assert preparation["rows_in"] == 3000 and preparation["rows_out"] == 3000 - 15 - 120
    assert preparation["dropped_rows"] == {"outcome 'spend' missing": 15, "a covariate missing (age)": 120}
    assert preparation["unused_columns"] == {"flat": "constant: it cannot confound"}
    assert "data: 2,865 of 3,000 rows analysed" in " ".join(out.split())
    assert "What whyflow did to the data" in (folder / "report.html").read_text()
