"""What the dose-response networks share: treatment scaled to [0, 1], the ensemble fit, the curve mu(t)
on a grid with a pointwise band, and the average derivative.

Two curves. The network's plug-in: mu(t) = mean over units of E[Y | T = t, X = x_i], band = the
bootstrap members' mean +- 1.96 SD (variance only: it missed the truth on most of the grid because
the fitted curve is flattened, bench/results/deep-dose.md). The doubly robust one (the default):
Kennedy, Ma, McHugh & Small (2017)'s pseudo-outcome built from the network's out-of-bag predictions
and a density ratio pi(t) / pi(t | x) from a small classifier over dose bins, smoothed by local
linear regression with a leave-one-out bandwidth; band = its sandwich standard error and the members'
spread, widened by the size of the DR correction over the share of units on support (bias-aware: see
DoseFit.doubly_robust).
The point value is the average derivative E[d mu(T, X) / dT] at the units' own doses, by central
differences of width 0.05 on the scaled treatment, in outcome units per unit of treatment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from estimators.deep.inference import Z95, cv_bandwidth, dr_pseudo_outcome, local_linear, out_of_bag_mean
from estimators.deep.layers import dense, init_dense, standardiser
from estimators.deep.runtime import load_jax
from estimators.deep.train import EnsembleFit, TrainSettings, fit_ensemble, make_members, seed_sequence

jax, jnp, _ = load_jax()

__all__ = ["DoseFit", "fit_dose_network", "fit_density_ratio", "DensitySpec", "Z95"]

_STEP = 0.05
_MARGINAL_ROWS = 2000  # rows the marginal integral of mu(t, x) over x averages (a random subset above)
_FINE_GRID = 101  # doses at which that integral is computed and then interpolated


@dataclass(frozen=True)
class DensitySpec:
    """pi(t | x) as a mixture of `components` Gaussians whose weights, means and scales are a network's
    outputs (a mixture density network, Bishop 1994): flexible enough for a skewed or bounded dose."""

    n_features: int
    components: int = 3
    hidden: tuple[int, ...] = (50, 50)

    def init(self, rng):
        return {"net": init_dense(rng, (self.n_features, *self.hidden, 3 * self.components))}

    def mixture(self, params, x):
        """Per row: log weights, means and log scales of the components (rows x components each)."""
        out = dense(params["net"], x, linear_last=True)
        k = self.components
        return jax.nn.log_softmax(out[:, :k], axis=1), out[:, k:2 * k], jnp.clip(out[:, 2 * k:] - 2.0, -7.0, 2.0)

    def log_density(self, params, x, t):
        """log pi(t_i | x_i) for row-aligned x and t."""
        log_w, means, log_sd = self.mixture(params, x)
        z = (t[:, None] - means) * jnp.exp(-log_sd)
        return jax.scipy.special.logsumexp(log_w - 0.5 * z**2 - log_sd - 0.9189385332046727, axis=1)

    def loss(self, params, batch, weight, key, training):
        nll = -self.log_density(params, batch["x"], batch["t"])
        return jnp.sum(weight * nll) / (jnp.sum(weight) + 1e-8)


@partial(jax.jit, static_argnums=(0,))
def _mixture(spec, params, x):
    return spec.mixture(jax.tree.map(lambda a: a[0], params), x)


def _mixture_density(log_w, means, log_sd, t) -> np.ndarray:
    """len(t) x rows: the density of each dose under each row's mixture (numpy, float64)."""
    z = (np.asarray(t, dtype=float)[:, None, None] - means[None]) * np.exp(-log_sd[None])
    return np.sum(np.exp(log_w[None] - 0.5 * z**2 - log_sd[None]), axis=2) / np.sqrt(2 * np.pi)


def fit_density_ratio(x_std: np.ndarray, t_unit: np.ndarray, seed, settings: TrainSettings, *,
                      max_ratio: float = 20.0, grid_unit: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """pi(t_i) / pi(t_i | x_i) per row (t scaled to [0, 1]) from one mixture density network early-stopped on
    a 30% split; pi(t) is the mean of pi(t | x_j) over (at most 2,000) rows j, on a fine grid of doses and
    interpolated. The ratio is capped at `max_ratio`: a unit whose dose its covariates make nearly
    impossible would otherwise dominate.

    With `grid_unit` (doses scaled the same way), the summary also holds `off_support_share`: per dose, the
    share of (those) rows whose covariates make that dose nearly impossible (ratio above the cap). For
    them no unit like them received the dose, so the DR correction cannot reach them and mu(t) rests on
    the outcome network's extrapolation (bench/results/deep-dose.md: where the share was above 0.6 the
    curves' errors were 3-5 times those below 0.4)."""
    member_seq, train_seq, sample_seq = seed_sequence(seed).spawn(3)
    t_unit = np.asarray(t_unit, dtype=float)
    spec = DensitySpec(x_std.shape[1])
    fit = fit_ensemble(spec, {"x": x_std, "t": t_unit}, make_members(len(t_unit), 1, member_seq), settings,
                       train_seq)
    log_w, means, log_sd = (np.asarray(a, dtype=float) for a in
                            _mixture(spec, fit.params, jnp.asarray(x_std, dtype=jnp.float32)))
    z = (t_unit[:, None] - means) * np.exp(-log_sd)
    own = np.sum(np.exp(log_w - 0.5 * z**2 - log_sd), axis=1) / np.sqrt(2 * np.pi)
    rows = np.arange(len(t_unit)) if len(t_unit) <= _MARGINAL_ROWS else \
        np.sort(np.random.default_rng(sample_seq).choice(len(t_unit), _MARGINAL_ROWS, replace=False))
    fine = np.linspace(t_unit.min(), t_unit.max(), 4 * _FINE_GRID)
    marginal = np.interp(t_unit, fine, _mixture_density(log_w[rows], means[rows], log_sd[rows], fine).mean(axis=1))
    ratio = marginal / np.maximum(own, 1e-300)
    summary = {"model": f"mixture density network, {spec.components} Gaussians",
               "capped_units": int((ratio > max_ratio).sum()), "max_ratio": max_ratio, "epochs": fit.epochs}
    if grid_unit is not None:
        at_grid = _mixture_density(log_w[rows], means[rows], log_sd[rows], grid_unit)  # doses x rows
        off = at_grid.mean(axis=1, keepdims=True) > max_ratio * np.maximum(at_grid, 1e-300)
        summary["off_support_share"] = [float(v) for v in off.mean(axis=1)]
    return np.minimum(ratio, max_ratio), summary


@partial(jax.jit, static_argnums=(0,))
def _predict(spec, params, x, t):
    return jax.vmap(spec.predict, in_axes=(0, None, None))(params, x, t)


@dataclass
class DoseFit:
    """A fitted dose-response ensemble; treatment is mapped to [0, 1] by the observed range."""

    spec: Any
    ensemble: EnsembleFit
    x_scale: tuple[np.ndarray, np.ndarray]
    y_scale: tuple[float, float]
    t_range: tuple[float, float]

    def _inputs(self, x, t):
        low, high = self.t_range
        x = jnp.asarray((np.asarray(x, dtype=float) - self.x_scale[0]) / self.x_scale[1], dtype=jnp.float32)
        return x, jnp.asarray(np.clip((np.asarray(t, dtype=float) - low) / (high - low), 0.0, 1.0), dtype=jnp.float32)

    def predict(self, x, t) -> np.ndarray:
        """Members x rows E[Y | T = t_i, X = x_i] in outcome units."""
        mean, scale = self.y_scale
        return np.asarray(_predict(self.spec, self.ensemble.params, *self._inputs(x, t)), dtype=float) * scale + mean

    def curve(self, x, grid) -> np.ndarray:
        """Members x grid points: the average dose-response mu(t) over the rows of x."""
        x = np.asarray(x, dtype=float)
        return np.stack([self.predict(x, np.full(len(x), g)).mean(axis=1) for g in grid], axis=1)

    def dose_response(self, x, grid) -> dict[str, list[float]]:
        """The network's plug-in curve with the members' band (mean +- 1.96 SD)."""
        members = self.curve(x, grid)
        mu, sd = members.mean(axis=0), members.std(axis=0, ddof=1) if members.shape[0] > 1 else 0.0 * members[0]
        return {"grid": [float(g) for g in grid], "mu": mu.tolist(), "low": (mu - Z95 * sd).tolist(),
                "high": (mu + Z95 * sd).tolist()}

    def doubly_robust(self, x, t, y, ratio, grid, seed=0, off_support=None) -> dict[str, Any]:
        """Kennedy et al. (2017)'s DR curve on the grid from the rows the network was fitted on, with a 95%
        band: 1.96 x sqrt(local linear sandwich variance + members' variance of the network curve), widened
        on each side by the distance between the DR curve and the network's own curve, divided by the share
        of units on support at that dose (`off_support`: the share off it, floored so the divisor is >= 0.2).

        Why the widening: where covariates make a dose nearly impossible, the capped density ratio cannot
        correct the network's extrapolation there, and the remaining error is bias, which no variance
        term sees (the variance-only band covered 75% of the grid for VCNet and 63% for DRNet on tuning
        seeds 101-110). The size of the correction the DR step did make is the data's own measure of how
        far off the network is on the units it could check; dividing by their share extends that measure
        to the whole population (bias-aware, in the manner of Armstrong & Kolesar 2020, with the bias bound
        estimated). On the tuning seeds the correction alone lifted coverage to 81% and 86%, and divided
        by the share on support to 87% and 90%. `ratio` = pi(t_i) / pi(t_i | x_i), fit_density_ratio."""
        x, t = np.asarray(x, dtype=float), np.asarray(t, dtype=float)
        factual = out_of_bag_mean(self.predict(x, t), self.ensemble.out_of_bag)
        rng = np.random.default_rng(seed_sequence(seed).spawn(1)[0])
        sample = x if len(x) <= _MARGINAL_ROWS else x[np.sort(rng.choice(len(x), _MARGINAL_ROWS, replace=False))]
        fine = np.linspace(t.min(), t.max(), _FINE_GRID)
        marginal = np.interp(t, fine, self.curve(sample, fine).mean(axis=0))
        xi = dr_pseudo_outcome(y, factual, ratio, marginal)
        bandwidth = cv_bandwidth(t, xi, seed=seed)
        mu, se = local_linear(t, xi, np.asarray(grid, dtype=float), bandwidth)
        members = self.curve(x, grid)
        spread = members.std(axis=0, ddof=1) if members.shape[0] > 1 else np.zeros(len(grid))
        network_mu = members.mean(axis=0)
        correction = np.abs(mu - network_mu)
        supported = 1.0 - (np.zeros(len(grid)) if off_support is None else np.asarray(off_support, dtype=float))
        half = Z95 * np.sqrt(se**2 + spread**2) + correction / np.maximum(supported, 0.2)
        return {"grid": [float(g) for g in grid], "mu": mu.tolist(), "low": (mu - half).tolist(),
                "high": (mu + half).tolist(), "bandwidth": bandwidth, "sandwich_se": se.tolist(),
                "network_mu": network_mu.tolist(), "network_sd": spread.tolist(),
                "correction": correction.tolist()}

    def average_derivative(self, x, t) -> np.ndarray:
        """Per member: mean over rows of d E[Y | T, X] / dT at the rows' own doses (one-sided at the ends)."""
        low, high = self.t_range
        t = np.asarray(t, dtype=float)
        scaled = (t - low) / (high - low)
        up, down = np.clip(scaled + _STEP, 0, 1), np.clip(scaled - _STEP, 0, 1)
        rise = self.predict(x, low + up * (high - low)) - self.predict(x, low + down * (high - low))
        return (rise / ((up - down) * (high - low))).mean(axis=1)


def fit_dose_network(make_spec, x, t, y, *, n_members: int, seed, settings: TrainSettings,
                     validation_fraction: float = 0.3) -> DoseFit:
    """Fit `make_spec(n_features)` as an ensemble on (x standardised, t in [0, 1], y standardised)."""
    x, t, y = (np.asarray(a, dtype=float) for a in (x, t, y))
    low, high = float(t.min()), float(t.max())
    if not high > low:
        raise ValueError("the treatment must vary to estimate a dose-response curve")
    member_seq, train_seq = seed_sequence(seed).spawn(2)
    x_scale, (y_mean, y_sd) = standardiser(x), standardiser(y)
    members = make_members(len(y), n_members, member_seq, validation_fraction=validation_fraction)
    data = {"x": (x - x_scale[0]) / x_scale[1], "t": (t - low) / (high - low), "y": (y - y_mean) / y_sd}
    ensemble = fit_ensemble(make_spec(x.shape[1]), data, members, settings, train_seq)
    return DoseFit(make_spec(x.shape[1]), ensemble, x_scale, (float(y_mean), float(y_sd)), (low, high))
