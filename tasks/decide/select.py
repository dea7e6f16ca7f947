"""Which CATE model to decide on: out-of-fold R-loss and DR-loss next to the zero and constant baselines.

DR-loss: mean (Gamma_i - tau(x_i))^2; its expectation is E[(tau - tau_true)^2] plus a constant shared
by all models, so differences between models estimate differences in CATE error (Saito & Yasui 2020).
R-loss (Nie & Wager 2021): mean ((Y - m(x)) - (T - e(x)) tau(x))^2 with the cross-fitted outcome
mean m = e mu1 + (1 - e) mu0 and propensity e. The constant baseline is the ATE, computed for each
fold from the other folds' scores, so it is as out-of-fold as the models.

The rule: rank by DR-loss; choose the lowest-DR-loss model whose DR-loss is below the constant
baseline's by more than 2 standard errors of the paired per-unit loss difference. If none is, no
model beats the constant effect, and the decision should rest on the ATE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasks.decide.scores import DRScores, fold_ids

__all__ = ["ModelSelection", "select_cate_model", "SELECTION_RULE", "MARGIN_SE"]

MARGIN_SE = 2.0
SELECTION_RULE = ("lowest out-of-fold DR-loss among models whose DR-loss is below the constant-effect (ATE) "
                  f"baseline's by more than {MARGIN_SE:g} standard errors of the paired difference; else decide on the ATE")
ZERO, CONSTANT = "baseline: zero effect", "baseline: constant effect (ATE)"


@dataclass(frozen=True)
class ModelSelection:
    """The loss table (best first) and the chosen model, or None when no model beats the constant."""

    table: list[dict]
    chosen: str | None
    reason: str

    def to_json(self) -> dict:
        return {"rule": SELECTION_RULE, "chosen": self.chosen, "reason": self.reason, "table": self.table}


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def _out_of_fold_ate(gamma: np.ndarray, folds: np.ndarray) -> np.ndarray:
    constant = np.empty_like(gamma)
    for k in np.unique(folds):
        constant[folds == k] = gamma[folds != k].mean()
    return constant


def select_cate_model(scores: DRScores, cate_oof: dict[str, np.ndarray], *, folds: int = 5, seed: int = 0
                      ) -> ModelSelection:
    """Rank the models' out-of-fold CATE by DR-loss (R-loss alongside) against the baselines; apply the rule."""
    gamma = scores.gamma
    residual_y, residual_t = scores.y - scores.outcome_mean, scores.t - scores.propensity
    constant = _out_of_fold_ate(gamma, fold_ids(gamma.size, folds, seed))
    candidates = {ZERO: np.zeros_like(gamma), CONSTANT: constant}
    for name, tau in cate_oof.items():
        tau = np.asarray(tau, dtype=float).ravel()
        if tau.size != gamma.size or not np.isfinite(tau).all():
            raise ValueError(f"`cate_oof[{name!r}]` must hold {gamma.size} finite values; got {tau.size}")
        candidates[name] = tau
    base_dr, base_r = (gamma - constant) ** 2, (residual_y - residual_t * constant) ** 2
    table = []
    for name, tau in candidates.items():
        dr, r = (gamma - tau) ** 2, (residual_y - residual_t * tau) ** 2
        dr_loss, dr_se = _mean_se(dr)
        r_loss, r_se = _mean_se(r)
        dr_gain, dr_gain_se = _mean_se(base_dr - dr) if name != CONSTANT else (0.0, 0.0)
        r_gain, r_gain_se = _mean_se(base_r - r) if name != CONSTANT else (0.0, 0.0)
        table.append({"model": name, "baseline": name in (ZERO, CONSTANT), "dr_loss": dr_loss, "dr_loss_se": dr_se,
                      "r_loss": r_loss, "r_loss_se": r_se, "dr_gain_vs_constant": dr_gain,
                      "dr_gain_se": dr_gain_se, "r_gain_vs_constant": r_gain, "r_gain_se": r_gain_se})
    table.sort(key=lambda row: row["dr_loss"])
    winners = [row for row in table if not row["baseline"]
               and row["dr_gain_vs_constant"] > MARGIN_SE * row["dr_gain_se"] > 0]
    if winners:
        best = winners[0]
        reason = (f"{best['model']} lowers the DR-loss below the constant effect by {best['dr_gain_vs_constant']:.4g} "
                  f"(SE {best['dr_gain_se']:.3g}, > {MARGIN_SE:g} SE)")
        return ModelSelection(table, best["model"], reason)
    return ModelSelection(table, None, "no model beats the constant effect: decide on the ATE")
