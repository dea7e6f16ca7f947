"""Linear NOTEARS (Zheng, Aragam, Ravikumar & Xing 2018): a DAG by continuous optimisation.

    min_W  1/(2n) ||X - XW||_F^2 + lambda1 ||W||_1   subject to   h(W) = tr(exp(W o W)) - d = 0
solved by the augmented Lagrangian (rho/2 h^2 + alpha h), each subproblem with scipy's L-BFGS-B on
W = W+ - W- (W+, W- >= 0, so the L1 term is linear and smooth). Two choices of ours:
- the loss uses the covariance S = X'X/n: 1/2 tr((I-W)' S (I-W)), gradient -S(I-W), so an
  evaluation costs O(d^3) whatever the number of rows (the reference code multiplies X each time);
- a categorical column enters as a block of dummies and h acts on the node-level matrix
  G = B'(W o W)B (B maps columns to nodes), so a block is one node and "no cycle" holds between nodes.
Prior knowledge enters as bounds: a forbidden edge's weights are fixed at zero (as is every weight
inside a block); a required edge is not L1-penalised and is kept after thresholding.
Data are standardised; there is no randomness (start at W = 0), so results are reproducible.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd
from scipy.linalg import expm
from scipy.optimize import minimize

from tasks.graph.encode import numeric_blocks
from tasks.structure.knowledge import PriorKnowledge

__all__ = ["notears_linear", "NotearsFit", "run_notears", "LAMBDA1", "THRESHOLD"]

log = logging.getLogger(__name__)
LAMBDA1 = 0.1  # the paper's default L1 weight on standardised data
THRESHOLD = 0.3  # the paper's default: weights below it are dropped


@dataclass(frozen=True)
class NotearsFit:
    weights: np.ndarray  # (d, d) node-level strength (group norm of the block weights) after thresholding
    raw: np.ndarray  # (p, p) column-level weights before thresholding
    h: float
    iterations: int
    forced: list[tuple[int, int]]  # required edges kept although their weight was below the threshold
    dropped_for_cycles: list[tuple[int, int]]


def _objective(S: np.ndarray, B: np.ndarray | None, free: np.ndarray, l1: np.ndarray, rho: float, alpha: float):
    """Value and gradient over the free entries of (W+, W-); pinned entries stay at zero."""
    p = S.shape[0]
    eye = np.eye(p)
    full = np.zeros(2 * p * p)

    def value_and_gradient(w: np.ndarray) -> tuple[float, np.ndarray]:
        full[free] = w
        W = (full[: p * p] - full[p * p:]).reshape(p, p)
        R = eye - W
        SR = S @ R
        loss = 0.5 * float(np.sum(R * SR))
        E = expm(W * W if B is None else B.T @ (W * W) @ B)
        h = float(np.trace(E)) - E.shape[0]
        smooth = (-SR + (rho * h + alpha) * 2.0 * W * (E.T if B is None else B @ E.T @ B.T)).ravel()
        value = loss + 0.5 * rho * h * h + alpha * h + float(l1 @ w)
        return value, np.concatenate([smooth, -smooth])[free] + l1

    return value_and_gradient


def _acyclicity(W: np.ndarray, B: np.ndarray | None) -> float:
    G = W * W if B is None else B.T @ (W * W) @ B
    return float(np.trace(expm(G))) - G.shape[0]


def notears_linear(X: np.ndarray, *, groups: np.ndarray | None = None, forbidden: np.ndarray | None = None,
                   required: np.ndarray | None = None, lambda1: float = LAMBDA1, threshold: float = THRESHOLD,
                   max_iter: int = 100, h_tol: float = 1e-8, rho_max: float = 1e16,
                   standardise: bool = True) -> NotearsFit:
    """NOTEARS on an (n, p) array whose columns belong to nodes `groups` (default: one node each).

    `forbidden` / `required` are boolean (d, d) node-level masks (row -> column). `standardise=False`
    keeps the raw scale (centred only): the least-squares loss then identifies a linear SEM with equal
    noise variances (Loh & Buehlmann 2014), which standardising destroys (Reisach et al. 2021); real
    columns have arbitrary units, so the default standardises."""
    X = np.asarray(X, dtype=float)
    n, p = X.shape
    groups = np.arange(p) if groups is None else np.asarray(groups)
    d = int(groups.max()) + 1
    B = np.zeros((p, d))
    B[np.arange(p), groups] = 1.0
    forbidden = np.eye(d, dtype=bool) | (False if forbidden is None else np.asarray(forbidden, dtype=bool))
    required = np.zeros((d, d), dtype=bool) if required is None else np.asarray(required, dtype=bool)
    scale = X.std(axis=0) if standardise else np.ones(p)
    Z = (X - X.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    S = Z.T @ Z / n
    pinned = np.tile(forbidden[np.ix_(groups, groups)].ravel(), 2)  # inside a block or a forbidden pair
    free = np.flatnonzero(~pinned)  # only these enter L-BFGS-B: fewer variables, same problem
    l1 = np.tile(np.where(required[np.ix_(groups, groups)], 0.0, lambda1).ravel(), 2)[free]
    bounds = [(0.0, None)] * len(free)
    B_or_none = None if d == p else B
    w = np.zeros(len(free))
    rho, alpha, h = 1.0, 0.0, np.inf
    iterations = 0

    def weights(x: np.ndarray) -> np.ndarray:
        full = np.zeros(2 * p * p)
        full[free] = x
        return (full[: p * p] - full[p * p:]).reshape(p, p)

    for iterations in range(1, max_iter + 1):
        while rho < rho_max:
            solution = minimize(_objective(S, B_or_none, free, l1, rho, alpha), w, jac=True, method="L-BFGS-B",
                                bounds=bounds)
            w_new = solution.x
            h_new = _acyclicity(weights(w_new), B_or_none)
            if h_new > 0.25 * h:
                rho *= 10
            else:
                break
        w, h = w_new, h_new
        alpha += rho * h
        if h <= h_tol or rho >= rho_max:
            break
    raw = weights(w)
    strength = np.sqrt(B.T @ (raw * raw) @ B)
    keep = (strength >= threshold) & ~forbidden
    forced = [tuple(e) for e in np.argwhere(required & ~keep)]
    keep |= required
    dropped = _break_cycles(keep, strength, required)
    log.info("NOTEARS: d=%d, %d iterations, h=%.2e, %d edges", d, iterations, h, int(keep.sum()))
    return NotearsFit(np.where(keep, strength, 0.0), raw, h, iterations, forced, dropped)


def _break_cycles(keep: np.ndarray, strength: np.ndarray, required: np.ndarray) -> list[tuple[int, int]]:
    """Thresholding leaves a DAG when h reached ~0; if not, drop the weakest non-required edge of a cycle."""
    dropped = []
    graph = nx.DiGraph([tuple(e) for e in np.argwhere(keep)])
    while not nx.is_directed_acyclic_graph(graph):
        cycle = [e for e in nx.find_cycle(graph) if not required[e]]
        weakest = min(cycle, key=lambda e: strength[e])
        graph.remove_edge(*weakest)
        keep[weakest] = False
        dropped.append(tuple(int(i) for i in weakest))
    return dropped


def run_notears(frame: pd.DataFrame, columns: list[str], *, knowledge: PriorKnowledge | None = None,
                categorical: tuple[str, ...] = (), lambda1: float = LAMBDA1,
                threshold: float = THRESHOLD) -> tuple[dict[frozenset, tuple[str, str, str]], dict, float]:
    """NOTEARS on the named columns: ({pair: (a, b, '->')}, details, seconds)."""
    started = time.perf_counter()
    knowledge = knowledge or PriorKnowledge()
    blocks = numeric_blocks(frame, columns, categorical=categorical)
    used = [c for c in columns if blocks[c].shape[1]]  # a constant column carries no information
    X = np.column_stack([blocks[c] for c in used])
    groups = np.concatenate([[k] * blocks[c].shape[1] for k, c in enumerate(used)])
    required = np.array([[(a, b) in knowledge.required for b in used] for a in used], dtype=bool)
    fit = notears_linear(X, groups=groups, forbidden=knowledge.forbidden_mask(used), required=required,
                         lambda1=lambda1, threshold=threshold)
    edges = {frozenset((used[i], used[j])): (used[i], used[j], "->") for i, j in np.argwhere(fit.weights > 0)}
    details = {"lambda1": lambda1, "threshold": threshold, "iterations": fit.iterations, "h": fit.h,
               "weights": {f"{used[i]}->{used[j]}": float(fit.weights[i, j]) for i, j in np.argwhere(fit.weights > 0)},
               "required_below_threshold": [f"{used[i]}->{used[j]}" for i, j in fit.forced],
               "dropped_for_cycles": [f"{used[i]}->{used[j]}" for i, j in fit.dropped_for_cycles]}
    return edges, details, time.perf_counter() - started
