"""Streaming DML and AIPW with flexible nuisances (LightGBM, random forests) on data too big for memory.

Flexible learners have no sufficient statistics, so they are fitted in memory on a seeded subsample:
the rows whose 64-bit unit hash (the seeded hash of the unit id or row number that the folds come
from, estimators/streaming.unit_hash) is among the `sample_rows` smallest - the same rows in every
engine and chunking. One model per cross-fitting fold is fitted on the subsample's rows outside that
fold (one thread each). A last pass over ALL rows predicts every row with the models of the fold it
does not belong to (cross-fitting preserved) and sums the same final-stage statistics as the
linear path (DML residual products and sandwich meat; AIPW score sums), so the orthogonal-score
stage, its estimate and standard error use every row. Passes: hash tail, subsample, final.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np

from estimators.nuisance import outcome_model, treatment_model
from estimators.streaming.fit import aipw_result, dml_result, naive_result, segment_effects, target_mean, run_streaming
from estimators.scores import dr_terms
from estimators.streaming.passes import StreamRequest, first_pass
from estimators.streaming.blocks import Block, Engine

__all__ = ["run_flexible", "FLEXIBLE_METHODS", "NUISANCE_SAMPLE_ROWS", "is_flexible"]

FLEXIBLE_METHODS = ("linear_dml", "aipw")
NUISANCE_SAMPLE_ROWS = 200_000
SELECTION = ("rows whose seeded 64-bit unit hash (the hash of unit_id or row number the folds come from) "
             "is among the {m:,} smallest")


def is_flexible(outcome: str, propensity: str) -> bool:
    return (outcome, propensity) != ("linear", "logistic")


def _hashes(b: Block, size: int) -> dict:
    if b.hash is None:
        raise ValueError("flexible streaming nuisances need blocks that carry the unit hash")
    return {f"low:{size}:h": np.sort(b.hash)[:size] if b.hash.size <= size else
            np.sort(np.partition(b.hash, size - 1)[:size])}


def _collect(b: Block, threshold: np.uint64) -> dict:
    keep = b.hash <= threshold
    # lists add up by concatenation in streaming.combine
    return {"rows": [(b.hash[keep], b.y[keep], b.t[keep], b.W[keep], b.fold[keep])]}


def _features(W: np.ndarray) -> np.ndarray:
    return W if W.shape[1] else np.zeros((W.shape[0], 1))


def _subsample(engine: Engine, size: int) -> tuple[dict, int]:
    tail = engine.map_reduce(partial(_hashes, size=size))[f"low:{size}:h"]
    parts = engine.map_reduce(partial(_collect, threshold=tail[-1]))["rows"]
    h, y, t, W, fold = (np.concatenate([p[i] for p in parts]) for i in range(5))
    order = np.lexsort((t, y, h))  # chunk- and engine-independent row order (LightGBM bagging uses it)
    return {"y": y[order], "t": t[order], "W": W[order], "fold": fold[order]}, 2


def _fit_models(sample: dict, methods: set, folds: int, binary: bool, outcome: str, propensity: str,
                seed: int) -> dict:
    """Per fold k, models trained on the subsample's rows outside fold k (seeds as estimators/aipw.py)."""
    seeds = np.random.SeedSequence(seed).generate_state(3 * folds)
    W, y, t = _features(sample["W"]), sample["y"], sample["t"]
    models: dict = {"y": [], "t": [], "mu0": [], "mu1": []}
    for k in range(folds):
        train = sample["fold"] != k
        if train.sum() < 2:
            raise ValueError(f"the nuisance subsample has {int(train.sum())} rows outside fold {k}; raise its size")
        treat = treatment_model(propensity, int(seeds[3 * k + 2]), binary)
        models["t"].append(treat.fit(W[train], t[train].astype(int) if binary else t[train]))
        if "linear_dml" in methods:
            models["y"].append(outcome_model(outcome, int(seeds[3 * k])).fit(W[train], y[train]))
        if "aipw" in methods:
            for arm in (0, 1):
                rows = train & (t == arm)
                if rows.sum() < 2:
                    raise ValueError(f"aipw needs treated and control units in every training fold of the "
                                     f"nuisance subsample; fold {k} has {int(rows.sum())} with T={arm}")
                models[f"mu{arm}"].append(outcome_model(outcome, int(seeds[3 * k + arm])).fit(W[rows], y[rows]))
    return models


def _cross_predict(b: Block, fitted: list, binary_proba: bool) -> np.ndarray:
    """Each row's prediction by the model of the fold it does not belong to."""
    W, out = _features(b.W), np.empty(b.n)
    for k, model in enumerate(fitted):
        rows = b.fold == k
        if rows.any():
            out[rows] = model.predict_proba(W[rows])[:, 1] if binary_proba else model.predict(W[rows])
    return out


def _final_flexible(b: Block, models: dict, req: StreamRequest, binary: bool, folds: int, levels: dict) -> dict:
    """The moments of pass 1 and the final-stage sums of stream_passes.final_pass, from flexible predictions."""
    out = first_pass(b, folds, binary, False, levels)
    e = _cross_predict(b, models["t"], binary)
    if "linear_dml" in req.methods:
        yres, tres = b.y - _cross_predict(b, models["y"], False), b.t - e
        V = tres[:, None] * np.hstack([np.ones((b.n, 1)), b.X])
        VV = (V[:, :, None] * V[:, None, :]).reshape(b.n, -1)
        out.update({"dml_A": V.T @ V, "dml_b": V.T @ yres, "dml_S0": VV.T @ yres**2,
                    "dml_S1": VV.T @ (yres[:, None] * V), "dml_S2": VV.T @ VV})
    if "aipw" in req.methods:
        clip = max(req.clip, 1e-9)
        out["aipw_clipped"] = np.count_nonzero((e < req.clip) | (e > 1 - req.clip))
        e = np.clip(e, clip, 1 - clip)
        mu0, mu1 = _cross_predict(b, models["mu0"], False), _cross_predict(b, models["mu1"], False)
        raw, d = dr_terms(b.y, b.t, mu0, mu1, e, req.estimand)
        terms = np.stack([raw, raw**2, raw * d, d, d * d], axis=1)
        out["aipw"] = terms.sum(axis=0)
        for name, codes in b.seg.items():
            out[f"aipw_seg:{name}"] = np.stack([np.bincount(codes, weights=col, minlength=len(levels[name]))
                                                for col in terms.T], axis=1)
    return out


def run_flexible(engine: Engine, req: StreamRequest, outcome: str, propensity: str, seed: int,
                 sample_rows: int = NUISANCE_SAMPLE_ROWS) -> dict:
    """run_streaming's result, with linear_dml and aipw from flexible nuisances fitted on a seeded
    subsample and a final stage over all rows; linear regression and overlap come from run_streaming."""
    lay = engine.layout
    binary, K = lay.treatment_type == "binary", lay.folds
    methods = set(req.methods) & set(FLEXIBLE_METHODS)
    if not binary and "aipw" in methods:
        raise ValueError("AIPW needs a binary treatment")
    rest = replace(req, methods=tuple(m for m in req.methods if m not in FLEXIBLE_METHODS))
    result = run_streaming(engine, rest) if (rest.methods or rest.overlap) else {"passes": 0}
    if not methods:
        return result
    sample, passes = _subsample(engine, int(sample_rows))
    models = _fit_models(sample, methods, K, binary, outcome, propensity, seed)
    stats = engine.map_reduce(partial(_final_flexible, models=models, req=replace(req, methods=tuple(methods)),
                                      binary=binary, folds=K, levels=lay.segment_levels))
    G = stats["G"]
    n_arm = G[:, :, 0, 0].sum(axis=0)
    n = float(n_arm.sum())
    result.setdefault("n", int(n))
    result.setdefault("dropped", int(stats["dropped"]))
    result.setdefault("naive", naive_result(G, n_arm, binary, len(lay.w_names)))
    result["passes"] += passes + 1
    record = {"nuisance": {"outcome": outcome, "propensity": propensity},
              "nuisance_sample": {"rows": int(sample["y"].size), "requested_rows": int(sample_rows),
                                  "selection": SELECTION.format(m=int(sample_rows)), "seed": int(seed),
                                  "models": f"one per cross-fitting fold ({K}), fitted on the subsample's rows "
                                            "outside that fold, n_jobs=1"},
              "final_stage": f"over all {int(n):,} rows, each predicted by its out-of-fold models"}
    if "linear_dml" in methods:
        est = dml_result(stats, n, target_mean(stats, n_arm, req.estimand, binary))
        est["segments"] = segment_effects(lay.segment_levels, stats, est.pop("effect"))
        coef, se = est.pop("cate_linear")
        est["details"]["cate_coefficients"] = [{"term": term, "coef": float(c), "std_error": float(e)}
                                               for term, c, e in zip(["intercept", *lay.x_names], coef, se)]
        est["details"] |= record
        result["linear_dml"] = est
    if "aipw" in methods:
        est = aipw_result(stats, stats, n, lay.segment_levels)
        est["details"] |= record
        result["aipw"] = est
    return result
