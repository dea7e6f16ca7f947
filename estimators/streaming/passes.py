"""The streaming analysis: one schedule of passes over the data shared by every requested estimator.

Pass 1 accumulates cross-products per fold and treatment arm (and the regression Gram) and the
first Newton step of every logistic propensity model (one per cross-fitting fold, plus the
full-sample model for overlap), started from a fit on an in-memory sample; further Newton (IRLS)
passes follow, the first of them also summing the regression's HC1 meat and the last one the DML
final-stage moments, the AIPW scores and the overlap statistics (estimators/stream_fit.py). Each
quantity equals what the in-memory estimator computes (same models, same standardisation and
ridge as estimators/propensity.py), up to floating-point summation order.

DML's HC1 meat comes from per-row score moments up to fourth order of the final-stage regressors
(1 + number of modifiers columns), sum (y - v'theta)^2 v v' expanded in theta, so it needs no
extra pass (Chernozhukov et al. 2018, sec. 3 for the orthogonal score).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimators.scores import dr_terms, estimand_weights
from estimators.streaming.blocks import Block, expit
from estimators.streaming.evidence import EvidenceRequest, evidence_final, evidence_first

__all__ = ["StreamRequest", "STREAMING_METHODS", "LogitModel", "first_pass", "irls_pass", "final_pass",
           "support_count_pass", "fold_rows"]

STREAMING_METHODS = ("linear_regression", "linear_dml", "aipw")


@dataclass(frozen=True)
class StreamRequest:
    methods: tuple[str, ...] = STREAMING_METHODS
    estimand: str = "ate"
    overlap: bool = False
    bins: int = 40
    ridge: float = 1e-6
    # Newton steps of the logistic models stop below this (standardised coefficients). 1e-8, not the
    # in-memory model's 1e-10: the speculative final statistics then come one pass earlier (4 -> 3
    # passes measured at 1e6-1e7 rows), and a nuisance error of 1e-8 moves DML and AIPW only at second
    # order (Neyman orthogonality); the streamed estimates still equal the in-memory ones to 1e-8.
    tol: float = 1e-8
    max_iter: int = 50
    aipw_crossfit: bool = True
    clip: float = 0.01
    tail_rows: int | None = None  # propensity tail buffer per arm; default fit.TAIL_ROWS
    # rows for the in-memory warm start of the logistic models: 5e5 leaves the first Newton step near
    # 1.5e-4, so chord steps reach `tol` in the third pass (1e-4 -> 1e-8 -> 1e-12 measured from 1e6 rows
    # at 1e7), at half the warm start's cost
    sample_rows: int = 500_000
    evidence: EvidenceRequest | None = None  # placebo, subsets, negative controls in the same passes
    strata: tuple | None = None  # spec `sample`: (column, {level: (units, treated)} of the full data)


@dataclass
class LogitModel:
    """One logistic model: trained on the rows outside `fold` (all rows when fold is -1)."""

    fold: int
    mean: np.ndarray
    scale: np.ndarray
    keep: np.ndarray
    penalty: np.ndarray
    beta: np.ndarray
    iterations: int = 0
    done: bool = False
    hessian: np.ndarray | None = None  # kept for the last passes, when it no longer changes (see _fit_logits)

    def rows(self, b: Block) -> np.ndarray | slice:
        return slice(None) if self.fold < 0 else b.fold != self.fold

    def design(self, W: np.ndarray) -> np.ndarray:
        return np.hstack([np.ones((W.shape[0], 1)), (W[:, self.keep] - self.mean) / self.scale])

    def to_raw(self) -> np.ndarray:
        """A with design(W) = [1, W] @ A: the standardisation as a matrix, so every model's logits,
        gradient and Hessian come from the raw design shared by all models."""
        p = self.keep.size
        A = np.zeros((p + 1, 1 + self.mean.size))
        A[0, 0] = 1.0
        cols = np.flatnonzero(self.keep)
        A[0, 1:] = -self.mean / self.scale
        A[1 + cols, 1 + np.arange(cols.size)] = 1.0 / self.scale
        return A


def _arm(b: Block, binary: bool) -> np.ndarray:
    return (b.t == 1).astype(np.int64) if binary else np.zeros(b.n, dtype=np.int64)


def _cells(b: Block) -> np.ndarray:
    """Row bounds per cell (fold * 2 + treated); engines group rows by cell (blocks.sort_by_cell)."""
    cells = b.cells
    if cells is None:
        raise ValueError("streaming passes need blocks grouped by cell (estimators.streaming.blocks.sort_by_cell)")
    return cells


def fold_rows(b: Block, k: int) -> slice:
    c = _cells(b)
    return slice(int(c[2 * k]), int(c[2 * k + 2]))


def _lr_design(b: Block) -> np.ndarray:
    return np.hstack([np.ones((b.n, 1)), b.t[:, None], b.W, b.t[:, None] * b.X])


def _cell_grams(M: np.ndarray, b: Block, folds: int, binary: bool) -> np.ndarray:
    """M'M per fold and arm (continuous treatments: every row in arm 0), from contiguous cell slices."""
    c = _cells(b)
    G = np.zeros((folds, 2, M.shape[1], M.shape[1]))
    for k in range(folds):
        for a in (0, 1):
            lo, hi = int(c[2 * k + a]), int(c[2 * k + a + 1])
            if hi > lo:
                part = M[lo:hi]
                G[k, a if binary else 0] += part.T @ part
    return G


def _moments(b: Block, folds: int, binary: bool, lr: bool) -> dict:
    arm = _arm(b, binary)
    out = {"G": _cell_grams(b.A, b, folds, binary), "dropped": b.dropped,
           "y_nonbinary": np.count_nonzero((b.y != 0) & (b.y != 1)),
           "xsum": np.stack([b.X[arm == a].sum(axis=0) for a in (0, 1)])}
    if lr:
        Dy = np.hstack([_lr_design(b), b.y[:, None]])
        out["lr_gram"] = Dy.T @ Dy
    return out


def _segment_sums(b: Block, levels: dict[str, list[str]], binary: bool) -> dict:
    arm = _arm(b, binary)
    out = {}
    for name, codes in b.seg.items():
        size = 2 * len(levels[name])
        key = codes.astype(np.int64) * 2 + arm
        out[f"seg_n:{name}"] = np.bincount(key, minlength=size).reshape(-1, 2).astype(float)
        out[f"seg_x:{name}"] = np.stack([np.bincount(key, weights=b.X[:, j], minlength=size).reshape(-1, 2)
                                         for j in range(b.X.shape[1])], axis=-1) if b.X.shape[1] else \
            np.zeros((size // 2, 2, 0))
    return out


def _train_weights(b: Block, values: np.ndarray, model_folds) -> np.ndarray:
    """values (n x models) with each fold model's own fold rows set to 0 (in place; contiguous slices)."""
    for i, k in enumerate(model_folds):
        if k >= 0:
            values[fold_rows(b, k), i] = 0.0
    return values


def _hessians(U: np.ndarray, weights: np.ndarray) -> list[np.ndarray]:
    """U' diag(w_i) U for every column w_i of weights, as one product: the products of U's column pairs
    (upper triangle) times the weights (about twice as fast as one weighted Gram per model)."""
    i, j = np.triu_indices(U.shape[1])
    sums = (U[:, i] * U[:, j]).T @ weights  # pairs x models
    out = []
    for m in range(weights.shape[1]):
        H = np.empty((U.shape[1], U.shape[1]))
        H[i, j] = sums[:, m]
        H[j, i] = sums[:, m]
        out.append(H)
    return out




def first_pass(b: Block, folds: int, binary: bool, lr: bool, levels: dict, gammas: np.ndarray | None = None,
           model_folds: tuple[int, ...] = (), evidence: EvidenceRequest | None = None) -> dict:
    """Moments, and the first Newton step's raw gradient and Hessian of every logistic model at its
    warm-start coefficients (raw design), so that step needs no pass of its own; the evidence's sums."""
    out = _moments(b, folds, binary, lr)
    out.update(_segment_sums(b, levels, binary))
    if evidence is not None and evidence.active:
        out.update(evidence_first(b, evidence, folds))
    if gammas is not None and len(model_folds):
        P = expit(b.U @ gammas)
        R = _train_weights(b, b.t[:, None] - P, model_folds)
        out["raw_g"] = b.U.T @ R
        for i, H in enumerate(_hessians(b.U, _train_weights(b, P * (1 - P), model_folds))):
            out[f"raw_H{i}"] = H
    return out


def _logits(b: Block, models: list[LogitModel]) -> np.ndarray:
    return b.U @ np.column_stack([m.to_raw() @ m.beta for m in models])


def irls_pass(b: Block, models: list[LogitModel], lr_beta: np.ndarray | None, hessian: bool = True) -> dict:
    """Gradient and Hessian of every logistic model at its current coefficients, in one sweep:
    logits of all models from the shared raw design, raw cross-products, then each model's
    standardisation applied to the small matrices."""
    out = {}
    active = [i for i, m in enumerate(models) if not m.done]
    if active:
        chosen = [models[i] for i in active]
        P = expit(_logits(b, chosen))
        folds = [m.fold for m in chosen]
        G = b.U.T @ _train_weights(b, b.t[:, None] - P, folds)
        H = _hessians(b.U, _train_weights(b, P * (1 - P), folds)) if hessian else None
        for j, (i, m) in enumerate(zip(active, chosen)):
            A = m.to_raw()
            out[f"g{i}"] = A.T @ G[:, j]
            if hessian:
                out[f"H{i}"] = A.T @ H[j] @ A
    if lr_beta is not None:
        D = _lr_design(b)
        e = b.y - D @ lr_beta
        out["lr_meat"] = (D * (e**2)[:, None]).T @ D
    return out


def _propensity(b: Block, models: list[LogitModel], per_fold: bool) -> np.ndarray:
    """Propensity of each row: its out-of-fold model (per_fold; models 0..K-1 are the fold models)
    or the full-sample model (always the last)."""
    if not per_fold:
        return expit(b.U @ (models[-1].to_raw() @ models[-1].beta))
    folds = [m for m in models if m.fold >= 0]
    return expit(_by_fold(b, np.array([m.to_raw() @ m.beta for m in folds])))


def _by_fold(b: Block, coefs: np.ndarray) -> np.ndarray:
    """Prediction of [1, W] with each row's own fold coefficients (coefs: folds x (1 + p))."""
    out = np.empty(b.n)
    for k in range(coefs.shape[0]):
        rows = fold_rows(b, k)
        out[rows] = b.U[rows] @ coefs[k]
    return out


def final_pass(b: Block, fit: dict, req: StreamRequest, binary: bool, models: list[LogitModel], tails: int) -> dict:
    out: dict = {}
    main: dict = {}  # what the streamed evidence reuses (estimators/streaming/evidence.py)
    arm = _arm(b, binary)
    cross_e = _propensity(b, models, True) if binary and ("linear_dml" in req.methods or (
        "aipw" in req.methods and req.aipw_crossfit)) else None
    if "linear_dml" in req.methods:
        yres = b.y - _by_fold(b, fit["y_fold"])
        tres = b.t - (cross_e if binary else _by_fold(b, fit["t_fold"]))
        V = tres[:, None] * np.hstack([np.ones((b.n, 1)), b.X])
        VV = (V[:, :, None] * V[:, None, :]).reshape(b.n, -1)
        main.update(V=V, VV=VV, yres=yres)
        out.update({"dml_A": V.T @ V, "dml_b": V.T @ yres, "dml_S0": VV.T @ yres**2,
                    "dml_S1": VV.T @ (yres[:, None] * V), "dml_S2": VV.T @ VV})
    full_e = _propensity(b, models, False) if (req.overlap or ("aipw" in req.methods and not req.aipw_crossfit)) \
        else None
    if "aipw" in req.methods:
        e = cross_e if req.aipw_crossfit else full_e
        clip = max(req.clip, 1e-9)
        out["aipw_clipped"] = np.count_nonzero((e < req.clip) | (e > 1 - req.clip))
        e = np.clip(e, clip, 1 - clip)
        raw, d = dr_terms(b.y, b.t, _by_fold(b, fit["mu0"]), _by_fold(b, fit["mu1"]), e, req.estimand)
        main.update(e=e, raw=raw, d=d)
        terms = np.stack([raw, raw**2, raw * d, d, d * d], axis=1)
        out["aipw"] = terms.sum(axis=0)
        for name, codes in b.seg.items():
            size = len(fit["levels"][name])
            out[f"aipw_seg:{name}"] = np.stack([np.bincount(codes, weights=col, minlength=size) for col in terms.T],
                                               axis=1)
    if req.overlap:
        e, w = full_e, estimand_weights(b.t, full_e, req.estimand)
        edges = np.linspace(0.0, 1.0, req.bins + 1)
        for a in (0, 1):
            ea, wa = e[arm == a], w[arm == a]
            out[f"hist{a}"] = np.histogram(ea, edges)[0]
            out[f"wsum{a}"] = np.array([wa.sum(), (wa**2).sum()])
            out[f"wW{a}"] = wa @ b.W[arm == a]
            if ea.size:
                out[f"min:e{a}"], out[f"max:e{a}"] = ea.min(), ea.max()
                out[f"low:{tails}:e{a}"] = np.sort(ea)[:tails] if ea.size <= tails else \
                    np.sort(np.partition(ea, tails - 1)[:tails])
                out[f"high:{tails}:e{a}"] = np.sort(ea)[-tails:] if ea.size <= tails else \
                    np.sort(np.partition(ea, ea.size - tails)[ea.size - tails:])
    if "evidence" in fit:
        out.update(evidence_final(b, fit["evidence"], req.estimand, req.clip, fit["folds"], main))
    return out


def support_count_pass(b: Block, models: list[LogitModel], low: float, high: float) -> dict:
    e = _propensity(b, models, False)
    inside = (e >= low) & (e <= high)
    return {"inside": np.array([np.count_nonzero(inside & (b.t == a)) for a in (0, 1)])}  # per arm
