"""The bias checks (plasmode, dummy outcome) of a streamed run, on a seeded in-memory subsample of stated size.

Both refit the estimator on simulated outcomes, which streamed would cost a pass per refit; a bias of
the estimator's form (linear nuisances on nonlinear confounding) shows on a sample as well, so they
run through tasks/evidence/refute.refute_estimates on at most BIAS_SAMPLE_ROWS rows of the quality
scan's sample, chosen by the streaming folds' seeded unit hash (the same rows in every chunking),
against each streaming estimator's in-memory counterpart with the run's nuisance options. Records
keep the streamed estimator's name; details state the subsample size, seed and the estimator refitted.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from estimators import registry
from estimators.base import CausalData, Estimate
from estimators.streaming.blocks import FrameDesign, unit_hash
from tasks.evidence.refutation import Refutation
from tasks.evidence.refute import refute_estimates

__all__ = ["BIAS_SAMPLE_ROWS", "SAMPLED_REFUTERS", "IN_MEMORY", "bias_subsample", "streamed_bias_checks"]

BIAS_SAMPLE_ROWS = 20_000  # plasmode's own cap (tasks/evidence/bias.SIMULATION_ROWS)
SAMPLED_REFUTERS = ("plasmode", "dummy_outcome")
IN_MEMORY = {"stream_linear_regression": "linear_regression", "stream_linear_dml": "linear_dml",
             "stream_aipw": "aipw"}


def _seed(seed: int) -> int:
    return int(np.random.SeedSequence([seed, 21]).generate_state(1)[0])


def bias_subsample(sample: pd.DataFrame, design: FrameDesign, seed: int,
                   rows: int = BIAS_SAMPLE_ROWS) -> CausalData:
    """The `rows` units of `sample` (index: global row number) with the smallest seeded unit hash, as
    CausalData with the run's adjustment set and modifiers."""
    keys = sample[design.unit_id].to_numpy() if design.unit_id else sample.index.to_numpy()
    order = np.argsort(unit_hash(keys, _seed(seed)), kind="stable")[:rows]
    block = design.block(sample.iloc[np.sort(order)])
    layout = design.layout
    return CausalData(Y=block.y, T=block.t, covariates=block.W, X=block.X, covariate_names=list(layout.w_names),
                      x_names=list(layout.x_names), treatment_type=design.treatment_type)


def streamed_bias_checks(refutations: list[Refutation], sample: pd.DataFrame, design: FrameDesign,
                         estimates: list[Estimate], refuters: list[str], *, seed: int, simulations: int,
                         workers: int = 1, options: dict[str, dict] | None = None,
                         rows: int = BIAS_SAMPLE_ROWS) -> list[Refutation]:
    """`refutations` with each streamed estimator's plasmode / dummy_outcome record replaced by the check
    run on the subsample (others, and estimators without an in-memory counterpart, are kept as they are)."""
    wanted = [r for r in refuters if r in SAMPLED_REFUTERS]
    pairs = [(e, IN_MEMORY[e.estimator]) for e in estimates if e.ok and e.estimator in IN_MEMORY]
    if not wanted or not pairs:
        return refutations
    data = bias_subsample(sample, design, seed, rows)
    refit_options = {}
    for streamed, name in pairs:
        accepted = registry.get(name).Options.model_fields
        refit_options[name] = {k: v for k, v in ((options or {}).get(streamed.estimator) or {}).items() if k in accepted}
    renamed = {name: streamed.estimator for streamed, name in pairs}
    records = refute_estimates(data, [replace(e, estimator=name) for e, name in pairs], wanted, seed=seed,
                               simulations=simulations, workers=workers, options=refit_options)
    details = {"streamed": True, "subsample_rows": int(data.n), "subsample_seed": _seed(seed),
               "subsample": "the quality scan's sample, units with the smallest seeded unit hash"}
    done = {}
    for record in records:
        name = renamed[record.estimator]
        done[(record.refuter, name)] = replace(record, estimator=name,
                                               details=record.details | details | {"estimator_refitted": record.estimator})
    return [done.get((r.refuter, r.estimator), r) for r in refutations]
