"""A real report from real diagnostics on a small simulated coupon data set (no Prefect, no MLflow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from estimators import get
from estimators.base import CausalData
from tasks.report import plots
from tasks.report import html as report
from tasks.estimate.effects import cate_by_segment, naive_difference
from tasks.graph.model import CausalGraph, parse_graph_text
from tasks.estimate.answer import choose_answer
from tasks.evidence.overlap import check_overlap
from tasks.evidence.refute import refute_estimates, survivors
from tasks.record.files import to_jsonable
from tasks.evidence.sensitivity import analyse_sensitivity

GRAPH = "digraph { coupon -> gmv; activity -> coupon; activity -> gmv; level -> coupon; level -> gmv; }"


def coupon_frame(n: int = 3000, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    level = rng.choice(["new", "regular", "vip"], size=n, p=[0.5, 0.35, 0.15])
    activity = rng.normal(size=n)
    lift = {"new": 20.0, "regular": 40.0, "vip": 80.0}
    score = 0.8 * activity + np.select([level == "vip", level == "regular"], [1.0, 0.4], 0.0)
    coupon = rng.binomial(1, 1 / (1 + np.exp(-(score - 0.3))))
    gmv = 100 + 30 * activity + np.vectorize(lift.get)(level) * (1 + coupon) + rng.normal(0, 40, n)
    return pd.DataFrame({"coupon": coupon, "gmv": gmv, "activity": activity, "level": level})


def build_results(refuters=("placebo", "data_subset", "unobserved_common_cause"), simulations: int = 3) -> tuple:
    frame = coupon_frame()
    data = CausalData.from_frame(frame, treatment="coupon", outcome="gmv", adjustment=["activity", "level"],
                                 modifiers=["level"], segments=["level"], categorical=["level"])
    overlap = check_overlap(data)
    estimates = [get(name)(seed=1).fit(data).estimate_ for name in ("linear_regression", "ipw")]
    refutations = refute_estimates(data, estimates, list(refuters), seed=3, simulations=simulations)
    sensitivity = analyse_sensitivity(data, estimates, "level")
    spec = {"name": "coupon_demo", "treatment": "coupon", "outcome": "gmv", "estimand": "ate",
            "graph": "graphs/coupon.dot"}
    versions = {"analysis": "coupon_demo", "data_md5": "0" * 32, "data_path": "data/raw/coupon.parquet",
                "graph_sha256": "a" * 64, "params_sha256": "b" * 64, "git_commit": "c" * 40, "git_dirty": False,
                "env_sha256": "d" * 64, "seed": 42}
    results = to_jsonable({
        "analysis": "coupon_demo", "versions": versions, "spec": spec,
        "estimates": [e.to_json() for e in estimates], "naive": naive_difference(data).to_json(), "truth": None,
        "cate_by_segment": cate_by_segment(estimates, data),
        "quality": {"success": True, "failed": [], "evaluated": 9, "rows": len(frame), "null_fractions": {}},
        "identification": {"strategy": "backdoor", "backdoor": ["activity", "level"], "instruments": [], "latent": []},
        "overlap": overlap.to_json(), "refutations": [r.to_json() for r in refutations],
        "survivors": survivors(estimates, refutations), "sensitivity": sensitivity.to_json(),
        "answer": choose_answer(estimates, "backdoor").to_json(), "warnings": [],
    })
    return results, overlap


def write_report(folder: Path, **options) -> Path:
    """Every plot the run makes, then report.html, into `folder`."""
    results, overlap = build_results(**options)
    figures = folder / "plots"
    figures.mkdir(parents=True)
    made = {"forest": plots.forest_plot([{"name": e["estimator"], "value": e["ate"], "ci_low": e["ci_low"],
                                          "ci_high": e["ci_high"]} for e in results["estimates"]],
                                        figures / "forest.png", None, "effect of coupon on gmv"),
            "propensity": plots.propensity_plot(overlap.histogram, figures / "propensity.png", "coupon"),
            "balance": plots.love_plot(overlap.smd_before, overlap.smd_after, 0.1, figures / "balance.png",
                                       overlap.variance_ratio_before, overlap.variance_ratio_after)}
    graph = CausalGraph(dag=parse_graph_text(GRAPH, "graphs/coupon.dot"), source="graphs/coupon.dot")
    made |= report.extra_plots(results, figures, graph)
    return report.render_report(results, made, folder / "report.html")
