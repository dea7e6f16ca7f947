"""Does a CATE model find real heterogeneity? BLP, GATES and TOC/RATE, all scored by DR scores.

Every statistic compares out-of-fold CATE predictions tau_hat with the doubly robust scores Gamma
(tasks/decide/scores.py), so a model is judged on units it did not see and without trusting it:
- BLP (Chernozhukov, Demirer, Duflo & Fernandez-Val 2018, the score form used by grf's
  test_calibration): OLS of Gamma on 1 and tau_hat - mean(tau_hat), heteroskedasticity-robust
  (HC1) errors. The intercept is the ATE; the slope is 1 for a calibrated model, 0 when the model's
  ranking carries no information (the constant-effect baseline), so slope > 0 is evidence of
  heterogeneity and slope = 0 is the test against the constant effect.
- GATES: mean Gamma within quantile groups of tau_hat, each with its own normal CI.
- TOC / RATE (Yadlowsky, Fleming, Shah, Brunskill & Wager 2021): TOC(q) = mean Gamma among the
  top q by tau_hat minus the ATE; AUTOC = integral of TOC(q) dq, Qini coefficient = integral of
  q TOC(q) dq. Both are 0 for a model no better than random targeting (the zero and constant
  baselines). Ties in tau_hat are averaged over. CIs: estimate +- 1.96 x the standard deviation
  over a nonparametric bootstrap of units with tau_hat held fixed (grf's choice as well).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["Interval", "CateValidation", "best_linear_predictor", "group_effects", "rank_average_treatment_effect",
           "validate_cate"]

Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Interval:
    """An estimate with its standard error, 95% CI and two-sided p-value against zero."""

    estimate: float
    std_error: float

    @property
    def ci_low(self) -> float:
        return self.estimate - Z95 * self.std_error

    @property
    def ci_high(self) -> float:
        return self.estimate + Z95 * self.std_error

    @property
    def p_value(self) -> float:
        if not self.std_error > 0:
            return float("nan")
        return float(2 * stats.norm.sf(abs(self.estimate / self.std_error)))

    def to_json(self) -> dict:
        return {"estimate": self.estimate, "std_error": self.std_error, "ci_low": self.ci_low,
                "ci_high": self.ci_high, "p_value": self.p_value}


def mean_interval(values: np.ndarray) -> Interval:
    values = np.asarray(values, dtype=float)
    se = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else float("nan")
    return Interval(float(values.mean()), se)


def best_linear_predictor(gamma: np.ndarray, tau_hat: np.ndarray) -> dict[str, Interval]:
    """BLP of the CATE by tau_hat: {'ate': intercept, 'heterogeneity': slope} with HC1 errors."""
    centred = tau_hat - tau_hat.mean()
    if not np.ptp(tau_hat) > 0:  # a constant prediction has no ranking to test
        return {"ate": mean_interval(gamma), "heterogeneity": Interval(float("nan"), float("nan"))}
    design = np.column_stack([np.ones_like(centred), centred])
    bread = np.linalg.inv(design.T @ design)
    beta = bread @ design.T @ gamma
    residual = gamma - design @ beta
    meat = (design * residual[:, None] ** 2).T @ design
    n = gamma.size
    cov = bread @ meat @ bread * n / (n - 2)
    se = np.sqrt(np.diag(cov))
    return {"ate": Interval(float(beta[0]), float(se[0])), "heterogeneity": Interval(float(beta[1]), float(se[1]))}


def group_effects(gamma: np.ndarray, tau_hat: np.ndarray, groups: int = 5) -> list[dict]:
    """GATES: groups by quantile of tau_hat (tied predictions stay together), lowest first."""
    ranks = pd.Series(tau_hat).rank(method="average").to_numpy()
    labels = pd.qcut(ranks, groups, labels=False, duplicates="drop")
    rows = []
    for k in np.unique(labels):
        members = labels == k
        effect = mean_interval(gamma[members])
        rows.append({"group": int(len(rows) + 1), "n": int(members.sum()), "predicted": float(tau_hat[members].mean()),
                     **{key: v for key, v in effect.to_json().items() if key != "p_value"}})
    return rows


def _toc_sequences(gamma_sorted: np.ndarray, starts: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per unit (priority order) for each weight row: q, TOC(q), and the unit's mass; ties averaged."""
    group_weight = np.add.reduceat(weights, starts, axis=1)
    group_sum = np.add.reduceat(weights * gamma_sorted, starts, axis=1)
    sizes = np.diff(np.r_[starts, gamma_sorted.size])
    group_mean = np.divide(group_sum, group_weight, out=np.zeros_like(group_sum), where=group_weight > 0)
    tied_gamma = np.repeat(group_mean, sizes, axis=1)  # each unit counts its tie group's mean
    total = weights.sum(axis=1, keepdims=True)
    cum_w = np.cumsum(weights, axis=1)
    cum_s = np.cumsum(weights * tied_gamma, axis=1)
    ate = group_sum.sum(axis=1, keepdims=True) / total
    toc = np.divide(cum_s, cum_w, out=np.zeros_like(cum_s), where=cum_w > 0) - ate
    return cum_w / total, toc, weights / total


def _rates(q: np.ndarray, toc: np.ndarray, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (mass * toc).sum(axis=1), (mass * q * toc).sum(axis=1)


def rank_average_treatment_effect(gamma: np.ndarray, tau_hat: np.ndarray, *, bootstrap: int = 200, seed: int = 0,
                                  grid: int = 100) -> dict:
    """AUTOC and Qini coefficient with bootstrap CIs, and the TOC curve on a grid of q (with a band)."""
    order = np.argsort(-tau_hat, kind="stable")
    g, p = gamma[order], tau_hat[order]
    starts = np.r_[0, np.flatnonzero(np.diff(p) != 0) + 1]
    q, toc, mass = _toc_sequences(g, starts, np.ones((1, g.size)))
    autoc, qini = _rates(q, toc, mass)
    qs = np.linspace(1.0 / grid, 1.0, grid)
    at = np.minimum(np.searchsorted(q[0], qs - 1e-12), g.size - 1)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    boot_autoc, boot_qini, boot_curve = [], [], []
    chunk = max(1, min(bootstrap, 2_000_000 // g.size))
    for start in range(0, bootstrap, chunk):
        weights = rng.multinomial(g.size, np.full(g.size, 1.0 / g.size), size=min(chunk, bootstrap - start)).astype(float)
        bq, btoc, bmass = _toc_sequences(g, starts, weights)
        a, b = _rates(bq, btoc, bmass)
        boot_autoc.append(a), boot_qini.append(b)
        for row in range(weights.shape[0]):
            idx = np.minimum(np.searchsorted(bq[row], qs - 1e-12), g.size - 1)
            boot_curve.append(btoc[row, idx])
    boot_autoc, boot_qini, boot_curve = np.concatenate(boot_autoc), np.concatenate(boot_qini), np.array(boot_curve)
    return {"autoc": Interval(float(autoc[0]), float(boot_autoc.std(ddof=1))),
            "qini": Interval(float(qini[0]), float(boot_qini.std(ddof=1))),
            "curve": {"q": qs.tolist(), "toc": toc[0, at].tolist(),
                      "toc_low": np.quantile(boot_curve, 0.025, axis=0).tolist(),
                      "toc_high": np.quantile(boot_curve, 0.975, axis=0).tolist(),
                      "ate": float(gamma.mean())},
            "bootstrap": bootstrap}


@dataclass(frozen=True)
class CateValidation:
    """One CATE model's validation against the zero and constant-effect baselines."""

    model: str
    n: int
    blp: dict[str, Interval]
    gates: list[dict]
    rate: dict = field(repr=False)

    @property
    def heterogeneity_detected(self) -> bool:
        """BLP slope and AUTOC both significantly positive (95%): the ranking beats the constant effect."""
        slope, autoc = self.blp["heterogeneity"], self.rate["autoc"]
        return bool(slope.ci_low > 0 and autoc.ci_low > 0)

    def to_json(self) -> dict:
        return {"model": self.model, "n": self.n,
                "blp": {k: v.to_json() for k, v in self.blp.items()},
                "gates": self.gates,
                "rate": {"autoc": self.rate["autoc"].to_json(), "qini": self.rate["qini"].to_json(),
                         "bootstrap": self.rate["bootstrap"], "ci": "estimate +- 1.96 bootstrap SE (units resampled)"},
                "toc_curve": self.rate["curve"],
                "heterogeneity_detected": self.heterogeneity_detected}


def validate_cate(scores, cate_oof: dict[str, np.ndarray] | np.ndarray, *, groups: int = 5, bootstrap: int = 200,
                  seed: int = 0) -> dict[str, CateValidation]:
    """BLP, GATES and RATE for each model's out-of-fold CATE; scores: DRScores or the Gamma array."""
    gamma = np.asarray(getattr(scores, "gamma", scores), dtype=float)
    models = cate_oof if isinstance(cate_oof, dict) else {"cate": cate_oof}
    if not isinstance(groups, int) or groups < 2:
        raise ValueError(f"`groups` must be an integer >= 2; got {groups!r}")
    if not isinstance(bootstrap, int) or bootstrap < 20:
        raise ValueError(f"`bootstrap` must be an integer >= 20; got {bootstrap!r}")
    seeds = np.random.SeedSequence(seed).spawn(max(1, len(models)))
    out = {}
    for (name, tau), child in zip(models.items(), seeds):
        tau = np.asarray(tau, dtype=float).ravel()
        if tau.size != gamma.size or not np.isfinite(tau).all():
            raise ValueError(f"`cate_oof[{name!r}]` must hold {gamma.size} finite values; got {tau.size} "
                             f"({int((~np.isfinite(tau)).sum())} not finite)")
        rate = rank_average_treatment_effect(gamma, tau, bootstrap=bootstrap,
                                             seed=int(child.generate_state(1)[0]))
        out[name] = CateValidation(name, gamma.size, best_linear_predictor(gamma, tau),
                                   group_effects(gamma, tau, groups), rate)
    return out
