"""Drive the passes of estimators/stream_passes.py and turn the summed statistics into estimates.

run_streaming(engine, request) returns plain dicts: per method the point estimate, standard error,
CATE by segment and details, plus the naive difference and (on request) the overlap diagnostics
in the fields of tasks.evidence.overlap.OverlapReport.
"""

from __future__ import annotations

import logging
import math
from functools import partial

import numpy as np

from estimators.streaming.passes import (StreamRequest, final_pass, irls_pass, LogitModel, first_pass, support_count_pass)
from estimators.streaming.blocks import Engine, solve_spd
from estimators.streaming.evidence import evidence_fit, evidence_result

__all__ = ["run_streaming", "aipw_result", "dml_result", "naive_result", "segment_effects", "target_mean", "inverse",
           "dr_inference"]

log = logging.getLogger(__name__)
# Propensity tail buffer per arm: the common support is counted exactly from it when fewer units than
# this lie outside the support (else one counting pass more). Not a share of n: at 1e8 rows n / 100
# made every row group ship and merge 4 x 1e6 propensities (3 GB through the workers' pipes).
TAIL_ROWS = 10_000


def inverse(G: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.diag(G))
    d = np.where(d > 0, d, 1.0)
    return np.linalg.pinv(G / np.outer(d, d)) / np.outer(d, d)


def _logit_model(S: np.ndarray, fold: int, p: int, ridge: float) -> LogitModel:
    n = S[0, 0]
    mean = S[0, 1:p + 1] / n
    second = np.diag(S)[1:p + 1] / n
    var = np.maximum(second - mean**2, 0.0)
    keep = var > 1e-13 * np.maximum(second, 1e-300)
    penalty = ridge * n * np.eye(1 + int(keep.sum()))
    penalty[0, 0] = 0.0
    tbar = S[0, p + 1] / n
    beta = np.zeros(1 + int(keep.sum()))
    beta[0] = math.log((tbar + 1e-9) / (1 - tbar + 1e-9))
    return LogitModel(fold, mean[keep], np.sqrt(var[keep]), keep, penalty, beta)


def _warm_start(fold: int, sample, p: int, ridge: float) -> np.ndarray:
    """Raw-design coefficients ([1, W] @ gamma = logit) of one logistic model fitted in memory on a
    sample: only a starting point, so fewer Newton passes over all rows."""
    rows = slice(None) if fold < 0 else sample.fold != fold
    Ut = np.hstack([sample.U[rows], sample.t[rows][:, None]])
    model = _logit_model(Ut.T @ Ut, fold, p, ridge)
    Z, t = model.design(sample.W[rows]), sample.t[rows]
    beta = model.beta.copy()
    if t.size >= 10 and t.min() != t.max():
        for _ in range(30):
            e = 1.0 / (1.0 + np.exp(-(Z @ beta)))
            step = np.linalg.solve((Z * (e * (1 - e))[:, None]).T @ Z + model.penalty,
                                   Z.T @ (t - e) - model.penalty @ beta)
            if not np.all(np.isfinite(step)):
                break
            beta = beta + step
            if np.max(np.abs(step)) < 1e-8:
                break
    return model.to_raw() @ beta


def _first_step(models: list[LogitModel], gammas: np.ndarray, s1: dict, tol: float) -> float:
    """The Newton step from the warm start, with the gradient and Hessian summed in pass 1."""
    largest = 0.0
    for i, m in enumerate(models):
        A = m.to_raw()
        m.beta = np.linalg.lstsq(A, gammas[:, i], rcond=None)[0]
        m.hessian = A.T @ s1[f"raw_H{i}"] @ A
        step = np.linalg.solve(m.hessian + m.penalty, A.T @ s1["raw_g"][:, i] - m.penalty @ m.beta)
        m.beta, m.iterations = m.beta + step, 1
        largest = max(largest, float(np.max(np.abs(step))))
        m.done = bool(np.max(np.abs(step)) < tol)
    return largest


def _both(b, first, second) -> dict:
    return first(b) | (second(b) if second is not None else {})


def _fit_logits(engine: Engine, models: list[LogitModel], req: StreamRequest, lr_beta, final,
                last_step: float) -> tuple[int, dict, dict | None]:
    """Newton passes for every logistic model (and the regression's HC1 meat). Once the last step
    was below 1e-4 the next step will be below the tolerance (Newton converges quadratically), so
    that pass also computes the final-stage statistics with the current coefficients; they are
    kept when every model then converges (coefficients within `tol` of the final ones), which
    saves a pass over the data."""
    passes, lr_meat = 0, None
    while any(not m.done for m in models) or (lr_beta is not None and lr_meat is None):
        speculate = final is not None and (last_step < 1e-4 or not models)
        # Close to the optimum the Hessian barely changes: the later passes reuse the last one (a chord
        # step: the fixed point, and so the estimate, is the same). From a warm start within ~1e-4 the
        # chord contracts the error by ~1e-4 a pass, as fast as Newton here (1e-4 -> 1e-8 -> 1e-12),
        # so only a warm start farther than 1e-3 pays for a fresh Hessian.
        fresh = last_step > 1e-3
        irls = partial(irls_pass, models=models, lr_beta=lr_beta if lr_meat is None else None, hessian=fresh)
        stats = engine.map_reduce(partial(_both, first=irls, second=final(models) if speculate else None))
        passes += 1
        lr_meat = stats.get("lr_meat", lr_meat)
        last_step = 0.0
        for i, m in enumerate(models):
            if m.done:
                continue
            if fresh:
                m.hessian = stats[f"H{i}"]
            step = np.linalg.solve(m.hessian + m.penalty, stats[f"g{i}"] - m.penalty @ m.beta)
            m.beta, m.iterations = m.beta + step, m.iterations + 1
            last_step = max(last_step, float(np.max(np.abs(step))))
            m.done = bool(np.max(np.abs(step)) < req.tol or m.iterations >= req.max_iter)
        log.info("streaming pass %d: largest logistic Newton step %.1e%s", passes, last_step,
                 " (final statistics computed alongside)" if speculate else "")
        if speculate and all(m.done for m in models) and last_step < req.tol:
            return passes, {"lr_meat": lr_meat}, stats
    return passes, {"lr_meat": lr_meat}, None


def segment_effects(levels, stats, coef_fn) -> dict[str, list[dict]]:
    table = {}
    for name, labels in levels.items():
        counts = stats[f"seg_n:{name}"].sum(axis=1)
        xsum = stats[f"seg_x:{name}"].sum(axis=1)
        rows = []
        for i, label in enumerate(labels):
            if counts[i] > 0:
                value, se = coef_fn(xsum[i] / counts[i])
                rows.append({"segment": label, "n": int(counts[i]), "cate": value, "std_error": se})
        table[name] = rows
    return table


def target_mean(s1: dict, n_arm: np.ndarray, estimand: str, binary: bool) -> np.ndarray:
    xsum = s1["xsum"]
    if binary and xsum.shape[1] and estimand in ("att", "atc"):
        arm = 1 if estimand == "att" else 0
        return xsum[arm] / n_arm[arm]
    return xsum.sum(axis=0) / n_arm.sum()


def _linear_regression(s1, lr_meat, n, p, target) -> dict:
    gram = s1["lr_gram"]
    k = gram.shape[0] - 1
    beta = solve_spd(gram[:k, :k], gram[:k, k])
    bread = inverse(gram[:k, :k])
    cov = bread @ lr_meat @ bread * (n / max(n - k, 1))

    def effect(xbar):
        c = np.zeros(k)
        c[1], c[2 + p:] = 1.0, xbar
        return float(c @ beta), float(np.sqrt(c @ cov @ c))

    value, se = effect(target)
    effect_rows = [1, *range(2 + p, k)]  # the treatment's coefficient and its interactions with X
    return {"value": value, "std_error": se, "effect": effect, "details": {"coefficients": k},
            "cate_linear": (beta[effect_rows], np.sqrt(np.diag(cov)[effect_rows]))}


def dml_result(stats, n, target) -> dict:
    A, b = stats["dml_A"], stats["dml_b"]
    r = A.shape[0]
    theta = solve_spd(A, b)
    meat = (stats["dml_S0"] - 2 * stats["dml_S1"] @ theta + stats["dml_S2"] @ np.kron(theta, theta)).reshape(r, r)
    inv = inverse(A)
    cov = inv @ meat @ inv * (n / max(n - r, 1))

    def effect(xbar):
        phi = np.concatenate([[1.0], xbar])
        return float(phi @ theta), float(np.sqrt(phi @ cov @ phi))

    value, se = effect(target)
    return {"value": value, "std_error": se, "effect": effect, "details": {"final_coefficients": r},
            "cate_linear": (theta, np.sqrt(np.diag(cov)))}


def dr_inference(sums: np.ndarray, n: float) -> tuple[float, float]:
    """Estimate and influence-function standard error from [sum raw, raw^2, raw*d, d, d^2]."""
    s_raw, s_raw2, s_rawd, s_d, s_d2 = sums
    value = s_raw / s_d
    share = s_d / n
    mean_sq = (s_raw2 - 2 * value * s_rawd + value**2 * s_d2) / n / share**2
    return float(value), math.sqrt(max(mean_sq, 0.0) / n)


def aipw_result(stats, s1, n, levels) -> dict:
    value, se = dr_inference(stats["aipw"], n)
    table = {}
    for name, labels in levels.items():
        counts = s1[f"seg_n:{name}"].sum(axis=1)
        rows = []
        for label, count, sums in zip(labels, counts, stats[f"aipw_seg:{name}"]):
            if count > 0 and sums[3] > 0:
                cate, cate_se = dr_inference(sums, count)
                rows.append({"segment": label, "n": int(count), "cate": cate, "std_error": cate_se})
        table[name] = rows
    return {"value": value, "std_error": se, "segments": table,
            "details": {"clipped_units": int(stats["aipw_clipped"])}}


def _overlap(engine, stats, G, models, req, p, n_arm, tails) -> tuple[dict, int]:
    mins = [float(stats[f"min:e{a}"]) for a in (0, 1)]
    maxs = [float(stats[f"max:e{a}"]) for a in (0, 1)]
    low, high = max(mins), min(maxs)
    # the units the estimand is about, and the propensity range they must fall in (tasks/overlap.py)
    arms, (lo_b, hi_b) = {"att": ((1,), (mins[0], maxs[0])), "atc": ((0,), (mins[1], maxs[1]))}.get(
        req.estimand, ((0, 1), (low, high)))
    n = sum(n_arm[a] for a in arms)
    extra = 0
    if lo_b > hi_b:
        support = 0.0
    else:
        outside, exact = 0, True
        for a in arms:
            lo, hi = stats[f"low:{tails}:e{a}"], stats[f"high:{tails}:e{a}"]
            full = lo.size >= n_arm[a]
            exact &= full or (lo[-1] >= lo_b and hi[0] <= hi_b)
            outside += np.count_nonzero(lo < lo_b) + np.count_nonzero(hi > hi_b)
        if exact:
            support = float((n - outside) / n)
        else:  # more units outside the support than the tail buffers hold: count them in one more pass
            inside = engine.map_reduce(partial(support_count_pass, models=models, low=lo_b, high=hi_b))["inside"]
            support = float(sum(inside[a] for a in arms) / n)
            extra = 1
    means, variances = [], []
    for a in (0, 1):
        Ga = G[:, a].sum(axis=0)
        mean = Ga[0, 1:p + 1] / n_arm[a]
        means.append(mean)
        variances.append(np.maximum(np.diag(Ga)[1:p + 1] / n_arm[a] - mean**2, 0.0))
    pooled = np.sqrt((variances[0] + variances[1]) / 2.0)
    wmeans = [stats[f"wW{a}"] / stats[f"wsum{a}"][0] for a in (0, 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        before = np.where(pooled > 0, (means[1] - means[0]) / pooled, 0.0)
        after = np.where(pooled > 0, (wmeans[1] - wmeans[0]) / pooled, 0.0)
    names = engine.layout.w_names
    return {
        "common_support": support, "support": (low, high),
        "propensity_treated": (mins[1], maxs[1]), "propensity_control": (mins[0], maxs[0]),
        "smd_before": dict(zip(names, map(float, before))), "smd_after": dict(zip(names, map(float, after))),
        "max_smd_before": float(np.max(np.abs(before))) if before.size else 0.0,
        "max_smd_after": float(np.max(np.abs(after))) if after.size else 0.0,
        "effective_sample_size": {arm: float(stats[f"wsum{a}"][0] ** 2 / stats[f"wsum{a}"][1])
                                  for arm, a in (("treated", 1), ("control", 0))},
        "histogram": {"edges": np.linspace(0.0, 1.0, req.bins + 1).tolist(),
                      "treated": stats["hist1"].tolist(), "control": stats["hist0"].tolist()},
    }, extra


def naive_result(G, n_arm, binary, p) -> dict:
    it, iy = p + 1, p + 2
    S = G.sum(axis=(0, 1))
    if not binary:
        n = S[0, 0]
        slope = (S[it, iy] - S[0, it] * S[0, iy] / n) / (S[it, it] - S[0, it] ** 2 / n)
        return {"value": float(slope), "std_error": math.nan, "method": "unadjusted slope"}
    parts = []
    for a in (1, 0):
        Ga = G[:, a].sum(axis=0)
        m = Ga[0, iy] / n_arm[a]
        parts.append((m, (Ga[iy, iy] - n_arm[a] * m**2) / (n_arm[a] - 1) / n_arm[a]))
    return {"value": float(parts[0][0] - parts[1][0]), "std_error": math.sqrt(parts[0][1] + parts[1][1]),
            "method": "unadjusted difference in means"}


def run_streaming(engine: Engine, req: StreamRequest) -> dict:
    """All requested streaming estimates, naive difference and overlap, in as few passes as possible."""
    lay = engine.layout
    binary, K, p = lay.treatment_type == "binary", lay.folds, len(lay.w_names)
    methods = set(req.methods)
    if not binary and ("aipw" in methods or req.overlap):
        raise ValueError("AIPW and the overlap diagnostics need a binary treatment")
    model_folds = tuple(range(K)) if binary and ("linear_dml" in methods or ("aipw" in methods and req.aipw_crossfit)) \
        else ()
    if binary and (req.overlap or ("aipw" in methods and not req.aipw_crossfit)):
        model_folds += (-1,)
    gammas = None
    if model_folds:
        sample = engine.sample(req.sample_rows)
        gammas = np.column_stack([_warm_start(k, sample, p, req.ridge) for k in model_folds])
    evidence = req.evidence if req.evidence is not None and req.evidence.active else None
    s1 = engine.map_reduce(partial(first_pass, folds=K, binary=binary, lr="linear_regression" in methods,
                                   levels=lay.segment_levels, gammas=gammas, model_folds=model_folds,
                                   evidence=evidence))
    G = s1["G"]
    n_arm = G[:, :, 0, 0].sum(axis=0)
    n = float(n_arm.sum())
    x, it, iy = slice(0, p + 1), p + 1, p + 2
    total = G.sum(axis=(0, 1))
    out_of_fold = [total - G[k].sum(axis=0) for k in range(K)]
    fit: dict = {"levels": lay.segment_levels, "folds": K}
    if evidence is not None:
        fit["evidence"] = evidence_fit(s1, evidence, p, len(lay.x_names), K, binary)
    if "linear_dml" in methods:
        fit["y_fold"] = np.array([solve_spd(S[x, x], S[x, iy]) for S in out_of_fold])
        if not binary:
            fit["t_fold"] = np.array([solve_spd(S[x, x], S[x, it]) for S in out_of_fold])
    if "aipw" in methods:
        for a, key in ((1, "mu1"), (0, "mu0")):
            arm = G[:, a]
            grams = [arm.sum(axis=0) - arm[k] if req.aipw_crossfit else arm.sum(axis=0) for k in range(K)]
            fit[key] = np.array([solve_spd(S[x, x], S[x, iy]) for S in grams])
    models = [_logit_model(total if k < 0 else out_of_fold[k], k, p, req.ridge) for k in model_folds]
    last_step = _first_step(models, gammas, s1, req.tol) if models else math.inf
    lr_beta = None
    if "linear_regression" in methods:
        gram = s1["lr_gram"]
        lr_beta = solve_spd(gram[:-1, :-1], gram[:-1, -1])
    tails = req.tail_rows or TAIL_ROWS
    wants_final = "linear_dml" in methods or "aipw" in methods or req.overlap or evidence is not None

    def final(current):
        return partial(final_pass, fit=fit, req=req, binary=binary, models=current, tails=tails)

    irls_passes, meat, stats = _fit_logits(engine, models, req, lr_beta, final if wants_final else None, last_step)
    lr_meat = meat["lr_meat"]
    result: dict = {"n": int(n), "dropped": int(s1["dropped"]), "naive": naive_result(G, n_arm, binary, p)}
    passes = 1 + irls_passes
    if wants_final and stats is None:
        stats = engine.map_reduce(final(models))
        passes += 1
    target = target_mean(s1, n_arm, req.estimand, binary)
    weights = None
    if req.strata is not None:  # the spec's sample: the estimand's population, stratum by stratum
        weights, target = _strata_target(s1, req, lay.segment_levels, binary)
    for name, build in (("linear_regression", lambda: _linear_regression(s1, lr_meat, n, p, target)),
                        ("linear_dml", lambda: dml_result(stats, n, target))):
        if name in methods:
            est = build()
            est["segments"] = segment_effects(lay.segment_levels, s1, est.pop("effect"))
            coef, se = est.pop("cate_linear")
            est["details"]["cate_coefficients"] = [  # tau(x) = intercept + sum_j coef_j x_j (Chernozhukov et al. 2018)
                {"term": term, "coef": float(c), "std_error": float(e)}
                for term, c, e in zip(["intercept", *lay.x_names], coef, se)]
            result[name] = est
    if "aipw" in methods:
        result["aipw"] = aipw_result(stats, s1, n, lay.segment_levels)
        if weights is not None:
            _post_stratify_aipw(result["aipw"], req.strata[0], lay.segment_levels, weights)
    if weights is not None:
        for name in ("linear_regression", "linear_dml"):
            if name in result:
                result[name]["details"]["post_stratified"] = {"by": req.strata[0], "weights": weights.tolist()}
    if req.overlap:
        result["overlap"], extra = _overlap(engine, stats, G, models, req, p, n_arm, tails)
        passes += extra
    result["moments"] = {"G": G.sum(axis=0), "y_nonbinary": int(s1["y_nonbinary"])}  # per arm [1, W, t, y]
    if evidence is not None:
        result["evidence"] = evidence_result(
            s1, stats, fit["evidence"], p, len(lay.x_names), binary, methods,
            partial(_target_of, estimand=req.estimand, binary=binary), target, n)
        if "ev:nc_CC" in s1:
            controls = s1["ev:nc_A"].sum(axis=(0, 1))[0]
            result["evidence"]["control_moments"] = {"names": list(evidence.controls), "sum": controls.tolist(),
                                                     "sum_sq": np.diag(s1["ev:nc_CC"]).tolist()}
    result["passes"] = passes
    result["logistic_iterations"] = [m.iterations for m in models]
    return result


def _strata_target(s1: dict, req: StreamRequest, levels: dict, binary: bool) -> tuple[np.ndarray, np.ndarray]:
    """Post-stratification (spec `sample`): each stratum's share of the estimand's population in the full
    data, and the modifier mean the effect is averaged over, sum_h share_h x mean_h (sample means)."""
    column, counts = req.strata
    labels = levels[column]
    units = np.array([counts.get(lv, (0, 0))[0] for lv in labels], dtype=float)
    treated = np.array([counts.get(lv, (0, 0))[1] for lv in labels], dtype=float)
    n_seg, x_seg = s1[f"seg_n:{column}"], s1[f"seg_x:{column}"]
    if binary and req.estimand in ("att", "atc"):
        arm = 1 if req.estimand == "att" else 0
        population, rows, sums = (treated if arm else units - treated), n_seg[:, arm], x_seg[:, arm]
    else:
        population, rows, sums = units, n_seg.sum(axis=1), x_seg.sum(axis=1)
    if np.any((population > 0) & (rows == 0)):
        empty = [lv for lv, p, r in zip(labels, population, rows) if p > 0 and r == 0]
        raise ValueError(f"sample: strata {empty} of {column!r} have no sampled units; raise sample.rate")
    share = population / population.sum()
    means = np.divide(sums, rows[:, None], out=np.zeros_like(sums), where=rows[:, None] > 0)
    return share, share @ means


def _post_stratify_aipw(est: dict, column: str, levels: dict, share: np.ndarray) -> None:
    """AIPW as sum_h share_h x the stratum's own estimate; variance sum_h share_h^2 SE_h^2."""
    rows = {r["segment"]: r for r in est["segments"][column]}
    value, var = 0.0, 0.0
    for label, w in zip(levels[column], share):
        if w > 0:
            value += w * rows[label]["cate"]
            var += (w * rows[label]["std_error"]) ** 2
    est["details"]["unstratified"] = {"value": est["value"], "std_error": est["std_error"]}
    est["value"], est["std_error"] = float(value), math.sqrt(var)
    est["details"]["post_stratified"] = {"by": column, "weights": share.tolist()}


def _target_of(n, xsum, n1, x1, estimand: str, binary: bool) -> np.ndarray:
    """The modifier mean an estimand averages the effect over (target_mean, from counts and sums)."""
    if binary and estimand == "att":
        return np.asarray(x1) / n1
    if binary and estimand == "atc":
        return (np.asarray(xsum) - np.asarray(x1)) / (n - n1)
    return np.asarray(xsum) / n
