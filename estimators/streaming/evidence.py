"""Streamed evidence: placebo treatments, data subsets and negative-control outcomes from statistics
summed in the estimators' own passes (pass 1 and the final pass), so refutation costs no pass of its own.

Units fall into GROUPS hash categories (a seeded re-mix of the unit hash, independent of everything);
pass 1 sums the cross-products of J = [1, W, t, X, tX, y] per fold and category, which serve every
placebo and subset at the cost of one Gram (rows grouped by category, no per-simulation work).

placebo   S placebo treatments t*_s = 1{category in A_s}, A_s a seeded random set of round(share x
          GROUPS) categories drawn independently per simulation: t* is independent of everything, so
          every estimator must find 0, and two simulations' values are uncorrelated (their category
          sets are independent draws). From the t*-weighted cross-products come the regression on
          [1, t*, W, t*X] (exact), the out-of-fold outcome models per placebo arm (AIPW) and the
          placebo propensity: one Newton step of the logistic model from its intercept-only fit, which
          is within O(1/n) of the converged fit because t* is independent of W by construction. The final
          pass sums the DML final stage and the AIPW scores with those nuisances.
subsets   B buckets of categories (category mod B); subset s leaves bucket s out ((B - 1) / B of the
          rows in expectation). The regression is refitted exactly from per-bucket Grams; DML and
          AIPW re-solve their final stage on the subset with the nuisances fitted on all rows (Neyman
          orthogonality: refitting the nuisances moves the estimate only to second order).
controls  negative-control outcomes (Block.extra): the outcome replaced by each control, every estimator
          re-solved with its own nuisances for it (outcome models refitted exactly from per-cell sums,
          the propensity unchanged), with standard errors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimators.scores import dr_terms
from estimators.streaming.blocks import _GOLDEN, _M1, _M2, Block, expit, solve_spd

__all__ = ["EvidenceRequest", "GROUPS", "evidence_first", "evidence_fit", "evidence_final", "evidence_result",
           "categories", "placebo_sets", "placebo_treatments", "buckets"]


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


GROUPS = 30  # hash categories: placebo sets and subset buckets are unions of them


def categories(b: Block, ev: EvidenceRequest) -> np.ndarray:
    if b.hash is None:
        raise ValueError("streamed evidence needs blocks that carry the unit hash")
    return (_remix(b.hash, _salts(ev.seed, 202, 1)[0]) % np.uint64(GROUPS)).astype(np.int64)


def placebo_sets(ev: EvidenceRequest) -> np.ndarray:
    """GROUPS x S membership: simulation s treats the categories in its own seeded random set."""
    size = min(GROUPS - 1, max(1, int(round(ev.share * GROUPS))))
    out = np.zeros((GROUPS, ev.placebo), dtype=bool)
    for s, child in enumerate(np.random.SeedSequence([ev.seed, 101]).spawn(ev.placebo)):
        out[np.random.default_rng(child).choice(GROUPS, size=size, replace=False), s] = True
    return out


def placebo_treatments(b: Block, ev: EvidenceRequest) -> np.ndarray:
    """n x S placebo treatments (0/1 floats)."""
    return placebo_sets(ev)[categories(b, ev)].astype(float)


def buckets(b: Block, ev: EvidenceRequest) -> np.ndarray:
    return categories(b, ev) % ev.subsets


def _fold_slices(b: Block, folds: int) -> list[slice]:
    c = b.cells
    return [slice(int(c[2 * k]), int(c[2 * k + 2])) for k in range(folds)]


def _lr_design(b: Block, t: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((b.n, 1)), t[:, None], b.W, t[:, None] * b.X])


def _controls(b: Block, ev: EvidenceRequest) -> np.ndarray:
    return np.column_stack([b.extra[c] for c in ev.controls]) if ev.controls else np.empty((b.n, 0))


def evidence_first(b: Block, ev: EvidenceRequest, folds: int) -> dict:
    """Pass-1 sums: J'J per fold and category (placebos, subsets); per cell [1, W, t, y]'C and C'C for
    the negative-control outcomes C."""
    out: dict = {}
    if ev.placebo or ev.subsets:
        key = b.fold.astype(np.int16) * np.int16(GROUPS) + categories(b, ev).astype(np.int16)
        order = np.argsort(key, kind="stable")  # radix sort on 16-bit keys
        J = np.empty((b.n, b.U.shape[1] + 2 + 2 * b.X.shape[1]), order="F")
        p1, q = b.U.shape[1], b.X.shape[1]
        t = b.t[order]
        J[:, :p1] = b.U[order]
        J[:, p1] = t
        J[:, p1 + 1:p1 + 1 + q] = b.X[order]
        J[:, p1 + 1 + q:p1 + 1 + 2 * q] = J[:, p1 + 1:p1 + 1 + q] * t[:, None]
        J[:, -1] = b.y[order]
        bounds = np.searchsorted(key[order], np.arange(folds * GROUPS + 1))
        grams = np.zeros((folds, GROUPS, J.shape[1], J.shape[1]))
        for g in range(folds * GROUPS):
            lo, hi = int(bounds[g]), int(bounds[g + 1])
            if hi > lo:
                grams[g // GROUPS, g % GROUPS] = J[lo:hi].T @ J[lo:hi]
        out["ev:J"] = grams
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


def _index(p: int, q: int) -> dict:
    """Positions in J = [1, W, t, X, tX, y]."""
    return {"u": list(range(p + 1)), "t": p + 1, "x": list(range(p + 2, p + 2 + q)),
            "tx": list(range(p + 2 + q, p + 2 + 2 * q)), "y": p + 2 + 2 * q}


def _placebo_fit(s1: dict, ev: EvidenceRequest, p: int, q: int, folds: int) -> dict:
    """Per fold and placebo, out of fold: raw-design propensity coefficients (one Newton step from the
    intercept-only fit) and the outcome coefficients per placebo arm."""
    J, sets = s1["ev:J"], placebo_sets(ev)
    ix = _index(p, q)
    u, iy = ix["u"], ix["y"]
    per_fold = J.sum(axis=1)
    treated = np.einsum("kcij,cs->ksij", J, sets.astype(float))  # t*-weighted J'J per fold and placebo
    total, total_t = per_fold.sum(axis=0), treated.sum(axis=0)
    S = ev.placebo
    prop, mu1, mu0 = (np.zeros((folds, S, p + 1)) for _ in range(3))
    for k in range(folds):
        JJ = total - per_fold[k]
        UU, Uy = JJ[np.ix_(u, u)], JJ[u, iy]
        for s in range(S):
            W1 = total_t[s] - treated[k, s]
            n, n1 = UU[0, 0], W1[0, 0]
            share = min(max(n1 / n, 1e-9), 1 - 1e-9)
            beta = np.zeros(p + 1)
            beta[0] = np.log(share / (1 - share))
            gradient = W1[u, 0] - share * UU[:, 0]
            prop[k, s] = beta + solve_spd(share * (1 - share) * UU, gradient)
            mu1[k, s] = solve_spd(W1[np.ix_(u, u)], W1[u, iy])
            mu0[k, s] = solve_spd(UU - W1[np.ix_(u, u)], Uy - W1[u, iy])
    return {"prop": prop, "mu1": mu1, "mu0": mu0, "sets": sets}


def _placebo_lr(s1: dict, ev: EvidenceRequest, p: int, q: int, target_of) -> np.ndarray:
    """The regression of y on [1, t*, W, t*X] for each placebo, from J'J and its t*-weighted sums."""
    J, sets = s1["ev:J"].sum(axis=0), placebo_sets(ev)
    total = J.sum(axis=0)
    ix = _index(p, q)
    # columns of [1, t*, W, t*X] as (position in J, weighted by t*)
    cols = [(0, False), (0, True), *((1 + j, False) for j in range(p)), *((c, True) for c in ix["x"])]
    values = []
    for s in range(ev.placebo):
        W1 = J[sets[:, s]].sum(axis=0)
        k = len(cols)
        gram, rhs = np.empty((k, k)), np.empty(k)
        for a, (ca, wa) in enumerate(cols):
            rhs[a] = (W1 if wa else total)[ca, ix["y"]]
            for c, (cb, wb) in enumerate(cols):
                gram[a, c] = (W1 if (wa or wb) else total)[ca, cb]
        beta = solve_spd(gram, rhs)
        xbar = target_of(n=total[0, 0], xsum=total[0, ix["x"]], n1=W1[0, 0], x1=W1[0, ix["x"]])
        c = np.zeros(k)
        c[1], c[2 + p:] = 1.0, xbar
        values.append(float(c @ beta))
    return np.array(values)


def evidence_fit(s1: dict, ev: EvidenceRequest, p: int, q: int, folds: int, binary: bool) -> dict:
    """What the final pass needs: placebo nuisances; per control, out-of-fold outcome coefficients
    (DML: all rows; AIPW: per arm) and the regression coefficients."""
    G = s1["G"]
    fit: dict = {"request": ev}
    u = slice(0, p + 1)
    if ev.placebo and binary:
        fit["placebo"] = _placebo_fit(s1, ev, p, q, folds)
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


def _placebo_aipw(b: Block, slices: list[slice], fit: dict, T: np.ndarray, Ec: np.ndarray, estimand: str) -> np.ndarray:
    """[sum raw; sum d] per placebo. The outcome models are linear in U, so each score sum needs only
    weighted sums of [U, y]: sum w (y - U beta) = w'y - (U'w) beta (no per-row outcome predictions)."""
    raw, d = np.zeros(T.shape[1]), np.zeros(T.shape[1])
    for k, rows in enumerate(slices):
        U, y, t, e = b.U[rows], b.y[rows], T[rows], Ec[rows]
        B1, B0 = fit["mu1"][k], fit["mu0"][k]  # S x (p+1)
        if estimand == "att":
            w = t - (1 - t) * e / (1 - e)
            raw += y @ w - np.einsum("ps,sp->s", U.T @ w, B0)
            d += t.sum(axis=0)
        elif estimand == "atc":
            w = t * (1 - e) / e - (1 - t)
            raw += y @ w - np.einsum("ps,sp->s", U.T @ w, B1)
            d += (1 - t).sum(axis=0)
        else:
            w1, w0 = t / e, (1 - t) / (1 - e)
            usum = U.sum(axis=0)
            raw += (B1 - B0) @ usum + y @ w1 - np.einsum("ps,sp->s", U.T @ w1, B1) \
                - y @ w0 + np.einsum("ps,sp->s", U.T @ w0, B0)
            d += U.shape[0]
    return np.stack([raw, d])


def _by_bucket(values: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """Column sums of values (n x m) per bucket, as one product with the buckets' indicators: count x m."""
    return onehot.T @ values


def evidence_final(b: Block, ev_fit: dict, estimand: str, clip: float, folds: int, main: dict) -> dict:
    """Final-pass sums. `main`: the block's main final-stage quantities (DML: V, VV, yres; AIPW: the
    clipped cross-fitted propensity e, raw, d)."""
    ev: EvidenceRequest = ev_fit["request"]
    out: dict = {}
    slices = _fold_slices(b, folds)
    phi = np.hstack([np.ones((b.n, 1)), b.X])
    cat = categories(b, ev) if (ev.placebo or ev.subsets) else None
    if "placebo" in ev_fit:
        fit = ev_fit["placebo"]
        T = fit["sets"][cat].astype(float)
        E = expit(_by_fold(b, slices, fit["prop"].transpose(0, 2, 1)))
        if "V" in main:
            tres = T - E
            r = phi.shape[1]
            i, j = np.triu_indices(r)
            out["ev:pl_dml_A"] = (phi[:, i] * phi[:, j]).T @ tres**2  # pairs x S
            out["ev:pl_dml_b"] = (phi * main["yres"][:, None]).T @ tres  # r x S
        if "raw" in main:
            Ec = np.clip(E, max(clip, 1e-9), 1 - max(clip, 1e-9))
            out["ev:pl_aipw"] = _placebo_aipw(b, slices, fit, T, Ec, estimand)
    if ev.subsets:
        bk = cat % ev.subsets
        onehot = np.zeros((b.n, ev.subsets))
        onehot[np.arange(b.n), bk] = 1.0
        if "V" in main:
            out["ev:sub_dml_A"] = _by_bucket(main["VV"], onehot)
            out["ev:sub_dml_b"] = _by_bucket(main["V"] * main["yres"][:, None], onehot)
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
    from estimators.streaming.fit import inverse

    k = gram.shape[0] - 1
    bread = inverse(gram[:k, :k])
    cov = bread @ meat @ bread * (n / max(n - k, 1))
    c = np.zeros(k)
    c[1], c[2 + p:] = 1.0, xbar
    return float(c @ beta), float(np.sqrt(c @ cov @ c))


def evidence_result(s1: dict, stats: dict, ev_fit: dict, p: int, q: int, binary: bool, methods: set,
                    target_of, main_target: np.ndarray, n: float) -> dict:
    """Per check and method: placebo values, subset values, control (value, SE) pairs.
    target_of(n, xsum, n1, x1): the modifier mean the estimand averages the effect over."""
    from estimators.streaming.fit import dr_inference, dml_result

    ev: EvidenceRequest = ev_fit["request"]
    out: dict = {"placebo": {}, "data_subset": {}, "negative_control": {}}
    J = s1["ev:J"].sum(axis=0) if "ev:J" in s1 else None  # per category
    ix = _index(p, q)
    if ev.placebo and binary:
        if "linear_regression" in methods:
            out["placebo"]["linear_regression"] = _placebo_lr(s1, ev, p, q, target_of).tolist()
        total, sets = J.sum(axis=0), placebo_sets(ev)
        treated = [J[sets[:, s]].sum(axis=0) for s in range(ev.placebo)]
        targets = [target_of(n=total[0, 0], xsum=total[0, ix["x"]], n1=W1[0, 0], x1=W1[0, ix["x"]]) for W1 in treated]
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
        bucket = np.arange(GROUPS) % B
        kept = [J[bucket != s].sum(axis=0) for s in range(B)]
        targets = [target_of(n=K[0, 0], xsum=K[0, ix["x"]], n1=K[0, ix["t"]], x1=K[ix["t"], ix["x"]]) for K in kept]
        if "linear_regression" in methods:
            order = [0, ix["t"], *range(1, p + 1), *ix["tx"], ix["y"]]  # [1, t, W, tX, y]
            out["data_subset"]["linear_regression"] = [_lr_value(K[np.ix_(order, order)], p, targets[s])
                                                       for s, K in enumerate(kept)]
        if "linear_dml" in methods and "ev:sub_dml_A" in stats:
            A, bb = stats["ev:sub_dml_A"], stats["ev:sub_dml_b"]
            r = bb.shape[1]
            out["data_subset"]["linear_dml"] = [
                float(np.concatenate([[1.0], targets[s]]) @ solve_spd((A.sum(axis=0) - A[s]).reshape(r, r),
                                                                       bb.sum(axis=0) - bb[s]))
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
            out["negative_control"]["aipw"] = [dr_inference(sums, n) for sums in stats["ev:nc_aipw"]]
    return out
