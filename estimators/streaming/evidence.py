"""Streamed evidence: placebo treatments, data subsets and negative-control outcomes from statistics
summed in the estimators' own passes (pass 1 and the final pass), so refutation costs no pass of its own.

placebo   S placebo treatments t*_s = 1{u_s(unit) < share}, u_s a uniform from a seeded re-mix of the
          unit hash: independent of everything, so every estimator must find 0. Per fold, pass 1 sums
          t*-weighted cross-products of M = [1, W, X, y]; from them come the regression on
          [1, t*, W, t*X] (exact), the out-of-fold outcome models per placebo arm (AIPW) and the
          placebo propensity: one Newton step of the logistic model from its intercept-only fit, which
          is within O(1/n) of the converged fit because t* is independent of W by construction. The final
          pass sums the DML final stage and the AIPW scores with those nuisances.
subsets   B disjoint buckets of a second seeded re-mix of the unit hash; subset s leaves bucket s out
          ((B - 1) / B of the rows). The regression is refitted exactly from per-bucket Grams; DML and
          AIPW re-solve their final stage on the subset with the nuisances fitted on all rows (Neyman
          orthogonality: refitting the nuisances moves the estimate only to second order).
controls  negative-control outcomes (Block.extra): the outcome replaced by each control, every estimator
          re-solved with its own nuisances for it (outcome models refitted exactly from per-cell sums,
          the propensity unchanged), with standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from estimators.scores import dr_terms
from estimators.streaming.blocks import _GOLDEN, _M1, _M2, Block, solve_spd

__all__ = ["EvidenceRequest", "evidence_first", "evidence_fit", "evidence_final", "evidence_result",
           "placebo_treatments", "buckets"]


@dataclass(frozen=True)
class EvidenceRequest:
    placebo: int = 0  # placebo simulations
    subsets: int = 0  # hash buckets (subset s leaves bucket s out)
    controls: tuple[str, ...] = ()  # negative-control outcome columns (Block.extra)
    seed: int = 0
    share: float = 0.5  # placebo treated share

    @property
    def active(self) -> bool:
        return bool(self.placebo or self.subsets or self.controls)


def _remix(h: np.ndarray, salt: np.uint64) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (h ^ salt) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def _salts(seed: int, tag: int, count: int) -> np.ndarray:
    return np.random.SeedSequence([seed, tag]).generate_state(max(count, 1), np.uint64)


def placebo_treatments(b: Block, ev: EvidenceRequest) -> np.ndarray:
    """n x S placebo treatments (0/1 floats), each from its own seeded re-mix of the unit hash."""
    if b.hash is None:
        raise ValueError("streamed placebo needs blocks that carry the unit hash")
    out = np.empty((b.n, ev.placebo))
    for s, salt in enumerate(_salts(ev.seed, 101, ev.placebo)):
        u = (_remix(b.hash, salt) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        out[:, s] = u < ev.share
    return out


def buckets(b: Block, ev: EvidenceRequest) -> np.ndarray:
    return (_remix(b.hash, _salts(ev.seed, 202, 1)[0]) % np.uint64(ev.subsets)).astype(np.int64)


def _fold_slices(b: Block, folds: int) -> list[slice]:
    c = b.cells
    return [slice(int(c[2 * k]), int(c[2 * k + 2])) for k in range(folds)]


def _lr_design(b: Block, t: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((b.n, 1)), t[:, None], b.W, t[:, None] * b.X])


def _controls(b: Block, ev: EvidenceRequest) -> np.ndarray:
    return np.column_stack([b.extra[c] for c in ev.controls]) if ev.controls else np.empty((b.n, 0))


def evidence_first(b: Block, ev: EvidenceRequest, folds: int) -> dict:
    """Pass-1 sums: per fold and placebo, t*-weighted M'M (M = [1, W, X, y]); M'M; per bucket the
    regression Gram and modifier sums; per cell [1, W, t, y]'C and C'C for the controls C."""
    out: dict = {}
    slices = _fold_slices(b, folds)
    if ev.placebo:
        M = np.hstack([b.U, b.X, b.y[:, None]])
        T = placebo_treatments(b, ev)
        m = M.shape[1]
        pl = np.zeros((folds, ev.placebo, m, m))
        for k, rows in enumerate(slices):
            Mk, Tk = M[rows], T[rows]
            for s in range(ev.placebo):
                chosen = Mk[Tk[:, s] == 1]
                pl[k, s] = chosen.T @ chosen
        out["ev:pl"] = pl
        out["ev:MM"] = M.T @ M
    if ev.subsets:
        bk = buckets(b, ev)
        Dy = np.hstack([_lr_design(b, b.t), b.y[:, None]])
        grams = np.zeros((ev.subsets, Dy.shape[1], Dy.shape[1]))
        for j in range(ev.subsets):
            part = Dy[bk == j]
            grams[j] = part.T @ part
        out["ev:sub_lr"] = grams
        out["ev:sub_x"] = np.stack([np.bincount(bk, weights=b.X[:, i], minlength=ev.subsets)
                                    for i in range(b.X.shape[1])], axis=1) if b.X.shape[1] else \
            np.zeros((ev.subsets, 0))
        out["ev:sub_n"] = np.bincount(bk, minlength=ev.subsets).astype(float)
        out["ev:sub_t"] = np.bincount(bk, weights=b.t, minlength=ev.subsets)
        out["ev:sub_tx"] = np.stack([np.bincount(bk, weights=b.t * b.X[:, i], minlength=ev.subsets)
                                     for i in range(b.X.shape[1])], axis=1) if b.X.shape[1] else \
            np.zeros((ev.subsets, 0))
    if ev.controls:
        C = _controls(b, ev)
        cells = b.cells
        AC = np.zeros((folds, 2, b.A.shape[1], C.shape[1]))
        for k in range(folds):
            for a in (0, 1):
                lo, hi = int(cells[2 * k + a]), int(cells[2 * k + a + 1])
                AC[k, a] = b.A[lo:hi].T @ C[lo:hi]
        out["ev:nc_A"] = AC
        out["ev:nc_CC"] = C.T @ C
        out["ev:nc_D"] = _lr_design(b, b.t).T @ C
    return out


def _placebo_fit(s1: dict, G: np.ndarray, p: int, folds: int) -> dict:
    """Per placebo and fold: raw-design propensity coefficients (one Newton step from the intercept-only
    fit) and the outcome coefficients per placebo arm, all out of fold; plus the regression Grams."""
    pl, MM = s1["ev:pl"], s1["ev:MM"]
    u = slice(0, p + 1)
    iy = MM.shape[0] - 1
    total = G.sum(axis=(0, 1))
    S = pl.shape[1]
    prop, mu1, mu0 = (np.zeros((folds, S, p + 1)) for _ in range(3))
    pl_total = pl.sum(axis=0)
    for k in range(folds):
        UU = total[u, u] - G[k].sum(axis=0)[u, u]
        Uy = total[u, p + 2] - G[k].sum(axis=0)[u, p + 2]
        for s in range(S):
            W1 = pl_total[s] - pl[k, s]  # out-of-fold, placebo-treated rows
            n, n1 = UU[0, 0], W1[0, 0]
            share = min(max(n1 / n, 1e-9), 1 - 1e-9)
            beta = np.zeros(p + 1)
            beta[0] = np.log(share / (1 - share))
            gradient = W1[u, 0] - share * UU[:, 0]
            prop[k, s] = beta + solve_spd(share * (1 - share) * UU, gradient)
            mu1[k, s] = solve_spd(W1[u, u], W1[u, iy])
            mu0[k, s] = solve_spd(UU - W1[u, u], Uy - W1[u, iy])
    return {"prop": prop, "mu1": mu1, "mu0": mu0}


def _placebo_lr(s1: dict, p: int, q: int, target_of) -> np.ndarray:
    """The regression of y on [1, t*, W, t*X] for each placebo, from M'M and the t*-weighted M'M."""
    pl, MM = s1["ev:pl"].sum(axis=0), s1["ev:MM"]
    iy = MM.shape[0] - 1
    # columns of [1, t*, W, t*X] as (column of M, weighted by t*)
    cols = [(0, False), (0, True), *((1 + j, False) for j in range(p)), *((p + 1 + j, True) for j in range(q))]
    values = []
    for s in range(pl.shape[0]):
        W1 = pl[s]
        k = len(cols)
        gram = np.empty((k, k))
        rhs = np.empty(k)
        for a, (ca, wa) in enumerate(cols):
            rhs[a] = (W1 if wa else MM)[ca, iy]
            for c, (cb, wb) in enumerate(cols):
                gram[a, c] = (W1 if (wa or wb) else MM)[ca, cb]
        beta = solve_spd(gram, rhs)
        treated = W1[0, 0]
        xbar = target_of(n=MM[0, 0], xsum=MM[0, p + 1:p + 1 + q], n1=treated, x1=W1[0, p + 1:p + 1 + q])
        c = np.zeros(k)
        c[1], c[2 + p:] = 1.0, xbar
        values.append(float(c @ beta))
    return np.array(values)


def evidence_fit(s1: dict, ev: EvidenceRequest, p: int, folds: int, binary: bool) -> dict:
    """What the final pass needs: placebo nuisances; per control, out-of-fold outcome coefficients
    (DML: all rows; AIPW: per arm) and the regression coefficients."""
    G = s1["G"]
    fit: dict = {"request": ev}
    u = slice(0, p + 1)
    if ev.placebo and binary:
        fit["placebo"] = _placebo_fit(s1, G, p, folds)
    if ev.controls:
        AC = s1["ev:nc_A"]
        total, total_c = G.sum(axis=(0, 1)), AC.sum(axis=(0, 1))
        fit["nc_y"] = np.array([solve_spd(total[u, u] - G[k].sum(axis=0)[u, u], total_c[u] - AC[k].sum(axis=0)[u])
                                for k in range(folds)])  # folds x (p+1) x controls
        for a in (0, 1):
            arm, arm_c = G[:, a], AC[:, a]
            fit[f"nc_mu{a}"] = np.array([solve_spd(arm.sum(axis=0)[u, u] - arm[k][u, u],
                                                   arm_c.sum(axis=0)[u] - arm_c[k][u]) for k in range(folds)])
        if "lr_gram" in s1:
            gram = s1["lr_gram"]
            k = gram.shape[0] - 1
            fit["nc_lr"] = solve_spd(gram[:k, :k], s1["ev:nc_D"])  # k x controls
    return fit


def _by_fold(b: Block, slices: list[slice], coefs: np.ndarray) -> np.ndarray:
    """Rows' predictions with their own fold's coefficients; coefs: folds x (p+1) x columns."""
    out = np.empty((b.n, coefs.shape[2]))
    for k, rows in enumerate(slices):
        out[rows] = b.U[rows] @ coefs[k]
    return out


def evidence_final(b: Block, ev_fit: dict, estimand: str, clip: float, folds: int, main: dict) -> dict:
    """Final-pass sums. `main`: the block's main final-stage quantities (DML: V, VV, yres; AIPW: the
    clipped cross-fitted propensity e, raw, d)."""
    ev: EvidenceRequest = ev_fit["request"]
    out: dict = {}
    slices = _fold_slices(b, folds)
    phi = np.hstack([np.ones((b.n, 1)), b.X])
    if "placebo" in ev_fit:
        T = placebo_treatments(b, ev)
        fit = ev_fit["placebo"]
        E = expit(_by_fold(b, slices, fit["prop"].transpose(0, 2, 1)))
        if "V" in main:
            tres = T - E
            r = phi.shape[1]
            i, j = np.triu_indices(r)
            out["ev:pl_dml_A"] = (phi[:, i] * phi[:, j]).T @ tres**2  # pairs x S
            out["ev:pl_dml_b"] = (phi * main["yres"][:, None]).T @ tres  # r x S
        if "raw" in main:
            Ec = np.clip(E, max(clip, 1e-9), 1 - max(clip, 1e-9))
            mu1 = _by_fold(b, slices, fit["mu1"].transpose(0, 2, 1))
            mu0 = _by_fold(b, slices, fit["mu0"].transpose(0, 2, 1))
            raw, d = dr_terms(b.y[:, None], T, mu0, mu1, Ec, estimand)
            out["ev:pl_aipw"] = np.stack([raw.sum(axis=0), np.broadcast_to(d, raw.shape).sum(axis=0)])
    if ev.subsets:
        bk = buckets(b, ev)
        if "V" in main:
            V, yres = main["V"], main["yres"]
            out["ev:sub_dml_A"] = np.stack([V[bk == j].T @ V[bk == j] for j in range(ev.subsets)])
            out["ev:sub_dml_b"] = np.stack([V[bk == j].T @ yres[bk == j] for j in range(ev.subsets)])
        if "raw" in main:
            out["ev:sub_aipw"] = np.stack([np.bincount(bk, weights=main["raw"], minlength=ev.subsets),
                                           np.bincount(bk, weights=main["d"], minlength=ev.subsets)])
    if ev.controls:
        C = _controls(b, ev)
        if "nc_lr" in ev_fit:
            D = _lr_design(b, b.t)
            E2 = (C - D @ ev_fit["nc_lr"]) ** 2
            out["ev:nc_lr_meat"] = np.stack([(D * E2[:, c:c + 1]).T @ D for c in range(C.shape[1])])
        if "V" in main:
            V, VV = main["V"], main["VV"]
            R = C - _by_fold(b, slices, ev_fit["nc_y"])
            out["ev:nc_dml_b"] = V.T @ R  # r x controls
            out["ev:nc_dml_S0"] = VV.T @ R**2
            out["ev:nc_dml_S1"] = np.stack([VV.T @ (R[:, c:c + 1] * V) for c in range(C.shape[1])])
        if "e" in main:
            mu1, mu0 = _by_fold(b, slices, ev_fit["nc_mu1"]), _by_fold(b, slices, ev_fit["nc_mu0"])
            sums = []
            for c in range(C.shape[1]):
                raw, d = dr_terms(C[:, c], b.t, mu0[:, c], mu1[:, c], main["e"], estimand)
                sums.append(np.stack([raw, raw**2, raw * d, d, d * d], axis=1).sum(axis=0))
            out["ev:nc_aipw"] = np.stack(sums)
    return out


def _lr_value(gram: np.ndarray, p: int, xbar: np.ndarray) -> float:
    k = gram.shape[0] - 1
    beta = solve_spd(gram[:k, :k], gram[:k, k])
    c = np.zeros(k)
    c[1], c[2 + p:] = 1.0, xbar
    return float(c @ beta)


def _lr_control(gram: np.ndarray, beta: np.ndarray, meat: np.ndarray, n: float, p: int, xbar: np.ndarray):
    from estimators.streaming.fit import _inverse

    k = gram.shape[0] - 1
    bread = _inverse(gram[:k, :k])
    cov = bread @ meat @ bread * (n / max(n - k, 1))
    c = np.zeros(k)
    c[1], c[2 + p:] = 1.0, xbar
    return float(c @ beta), float(np.sqrt(c @ cov @ c))


def evidence_result(s1: dict, stats: dict, ev_fit: dict, p: int, q: int, binary: bool, methods: set,
                    target_of, main_target: np.ndarray, n: float) -> dict:
    """Per check and method: placebo values, subset values, control (value, SE) pairs.
    target_of(n, xsum, n1, x1): the modifier mean the estimand averages the effect over."""
    from estimators.streaming.fit import _dr_inference, dml_result

    ev: EvidenceRequest = ev_fit["request"]
    out: dict = {"placebo": {}, "data_subset": {}, "negative_control": {}}
    if ev.placebo and binary:
        if "linear_regression" in methods:
            out["placebo"]["linear_regression"] = _placebo_lr(s1, p, q, target_of).tolist()
        pl = s1["ev:pl"].sum(axis=0)
        MM = s1["ev:MM"]
        targets = [target_of(n=MM[0, 0], xsum=MM[0, p + 1:p + 1 + q], n1=pl[s][0, 0], x1=pl[s][0, p + 1:p + 1 + q])
                   for s in range(ev.placebo)]
        if "linear_dml" in methods and "ev:pl_dml_A" in stats:
            r = q + 1
            i, j = np.triu_indices(r)
            values = []
            for s in range(ev.placebo):
                A = np.zeros((r, r))
                A[i, j] = stats["ev:pl_dml_A"][:, s]
                A[j, i] = stats["ev:pl_dml_A"][:, s]
                theta = solve_spd(A, stats["ev:pl_dml_b"][:, s])
                values.append(float(np.concatenate([[1.0], targets[s]]) @ theta))
            out["placebo"]["linear_dml"] = values
        if "aipw" in methods and "ev:pl_aipw" in stats:
            raw, d = stats["ev:pl_aipw"]
            out["placebo"]["aipw"] = (raw / d).tolist()
    if ev.subsets:
        B = ev.subsets
        n_b, t_b, x_b, tx_b = s1["ev:sub_n"], s1["ev:sub_t"], s1["ev:sub_x"], s1["ev:sub_tx"]
        targets = [target_of(n=n_b.sum() - n_b[s], xsum=x_b.sum(axis=0) - x_b[s], n1=t_b.sum() - t_b[s],
                             x1=tx_b.sum(axis=0) - tx_b[s]) for s in range(B)]
        if "linear_regression" in methods:
            grams = s1["ev:sub_lr"]
            total = grams.sum(axis=0)
            out["data_subset"]["linear_regression"] = [_lr_value(total - grams[s], p, targets[s]) for s in range(B)]
        if "linear_dml" in methods and "ev:sub_dml_A" in stats:
            A, bb = stats["ev:sub_dml_A"], stats["ev:sub_dml_b"]
            out["data_subset"]["linear_dml"] = [
                float(np.concatenate([[1.0], targets[s]]) @ solve_spd(A.sum(axis=0) - A[s], bb.sum(axis=0) - bb[s]))
                for s in range(B)]
        if "aipw" in methods and "ev:sub_aipw" in stats:
            raw, d = stats["ev:sub_aipw"]
            out["data_subset"]["aipw"] = [float((raw.sum() - raw[s]) / (d.sum() - d[s])) for s in range(B)]
    if ev.controls:
        count = len(ev.controls)
        if "linear_regression" in methods and "ev:nc_lr_meat" in stats:
            out["negative_control"]["linear_regression"] = [
                _lr_control(s1["lr_gram"], ev_fit["nc_lr"][:, c], stats["ev:nc_lr_meat"][c], n, p, main_target)
                for c in range(count)]
        if "linear_dml" in methods and "ev:nc_dml_b" in stats:
            rows = []
            for c in range(count):
                sums = {"dml_A": stats["dml_A"], "dml_S2": stats["dml_S2"], "dml_b": stats["ev:nc_dml_b"][:, c],
                        "dml_S0": stats["ev:nc_dml_S0"][:, c], "dml_S1": stats["ev:nc_dml_S1"][c]}
                est = dml_result(sums, n, main_target)
                rows.append((est["value"], est["std_error"]))
            out["negative_control"]["linear_dml"] = rows
        if "aipw" in methods and "ev:nc_aipw" in stats:
            out["negative_control"]["aipw"] = [_dr_inference(sums, n) for sums in stats["ev:nc_aipw"]]
    return out
