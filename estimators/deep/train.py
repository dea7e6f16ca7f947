"""The shared training core: an ensemble of one network, trained on one CPU thread, seeded, early-stopped.

Every member has its own training rows (a bootstrap resample, or a random split when the ensemble has
one member) and validation weights (its out-of-bag rows). All members train together: the epoch is
one jitted `lax.scan` over minibatches, `vmap`ped over members, so an ensemble of ten costs far less
than ten fits and shares one compilation. Each member keeps the parameters of its best validation
epoch (early stopping); training ends when every member has waited `patience` epochs without a new
best. Seeds come from one `numpy.random.SeedSequence`; with XLA on one thread the result is
bit-identical across runs and processes.

A network is a frozen (hashable) spec object with `init(numpy Generator) -> params` and
`loss(params, batch, weight, key, training) -> scalar`, where `batch` maps names to row-aligned arrays
and `weight` weights the rows; with `training=False` it returns the validation criterion, which must
be a per-row average (no pairwise terms, so it can run over all rows at once).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from estimators.deep.runtime import load_jax

jax, jnp, optax = load_jax()

__all__ = ["TrainSettings", "Members", "EnsembleFit", "make_members", "fit_ensemble", "jax_key", "seed_sequence"]


@dataclass(frozen=True)
class TrainSettings:
    """Optimiser and stopping rule shared by the networks (Adam with decoupled weight decay)."""

    max_epochs: int = 300
    patience: int = 20
    batch_size: int = 0  # 0: 64 rows up to 6,400 training rows, 256 above
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    # On large data an "epoch" is at most this many steps (a fresh random slice of the rows each time) and
    # the validation loss is read on at most `max_validation_rows` rows, so that early stopping looks at
    # the curve often and one epoch's cost does not grow with n.
    max_steps_per_epoch: int = 100
    max_validation_rows: int = 10_000

    def batch_for(self, rows: int) -> int:
        size = self.batch_size or (64 if rows <= 6_400 else 256)
        return max(1, min(size, rows))


@dataclass(frozen=True)
class Members:
    """Per ensemble member: training rows for each phase (M x k arrays) and validation weights (M x n)."""

    phases: tuple[np.ndarray, ...]
    val_weight: np.ndarray
    bootstrap: bool

    @property
    def size(self) -> int:
        return int(self.val_weight.shape[0])

    def by_label(self, labels: np.ndarray) -> Members:
        """One phase per label value (e.g. treated rows, then control rows), each member's rows split by label.
        Needs the same count per label in every member: `make_members(..., strata=labels)` guarantees it."""
        rows = self.phases[0]
        phases = []
        for value in (1, 0):
            chosen = [r[labels[r] == value] for r in rows]
            if len({len(c) for c in chosen}) != 1:
                raise ValueError("members must be stratified by the label to split their rows by it")
            phases.append(np.stack(chosen))
        return Members(tuple(phases), self.val_weight, self.bootstrap)


def seed_sequence(seed: np.random.SeedSequence | int) -> np.random.SeedSequence:
    """The project's seeds are ints or SeedSequences; child seeds are spawned from one SeedSequence."""
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def jax_key(seed_sequence: np.random.SeedSequence):
    """A raw JAX PRNG key (two uint32 words) drawn from a numpy SeedSequence (the project's one source of seeds)."""
    return jnp.asarray(seed_sequence.generate_state(2, dtype=np.uint32))


def make_members(n: int, n_members: int, seed: np.random.SeedSequence | int, *, strata: np.ndarray | None = None,
                 validation_fraction: float = 0.3) -> Members:
    """Bootstrap resamples (within strata) with out-of-bag validation for n_members > 1; one random split otherwise."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    train, val = [], []
    for _ in range(n_members):
        chosen = []
        for group in groups:
            if n_members == 1:
                keep = max(1, int(round(len(group) * (1 - validation_fraction))))
                chosen.append(rng.permutation(group)[:keep])
            else:
                chosen.append(rng.choice(group, size=len(group), replace=True))
        rows = np.concatenate(chosen)
        weight = np.ones(n)
        weight[rows] = 0.0
        train.append(rows)
        val.append(weight)
    return Members((np.stack(train),), np.stack(val), bootstrap=n_members > 1)


@dataclass
class EnsembleFit:
    """Best-validation parameters per member (stacked on axis 0), the per-epoch curves (members x epochs)
    and which rows each member left out of its training (members x rows, True = out of bag)."""

    params: Any
    train_loss: np.ndarray
    val_loss: np.ndarray
    best_epoch: np.ndarray
    epochs: int
    seconds: float
    out_of_bag: np.ndarray | None = None

    def curves(self) -> dict[str, dict[str, list]]:
        """Per member, its per-epoch losses, for logging as step metrics (step = epoch, 0-based):
        {"0": {"train_loss": [...], "val_loss": [...]}, "1": {...}, ...}. Keys are the member index as
        text (what a JSON round trip gives anyway); every list has `epochs` floats, a diverged epoch None."""
        def plain(values):
            return [float(v) if np.isfinite(v) else None for v in values]

        return {str(m): {"train_loss": plain(self.train_loss[m]), "val_loss": plain(self.val_loss[m])}
                for m in range(self.train_loss.shape[0])}

    def summary(self) -> dict[str, Any]:
        return {"members": int(self.best_epoch.size), "epochs_run": self.epochs,
                "best_epoch_median": float(np.median(self.best_epoch)), "seconds": round(self.seconds, 3),
                "final_val_loss": float(np.nanmean(np.nanmin(self.val_loss, axis=1)))}


@partial(jax.jit, static_argnums=(0, 1, 2, 3))
def _epoch(spec, learning_rate, weight_decay, frozen, params, state, order, keys, data):
    optimiser = optax.adamw(learning_rate, weight_decay=weight_decay)

    def member(p, s, rows, member_keys):
        def step(carry, inputs):
            p, s = carry
            idx, key = inputs
            batch = {name: column[idx] for name, column in data.items()}
            loss, grads = jax.value_and_grad(spec.loss)(p, batch, jnp.ones(idx.shape[0]), key, True)
            updates, s = optimiser.update(grads, s, p)
            if frozen:  # alternating training (DCN-PD): the other arm's head stays where it is
                updates = {k: jax.tree.map(jnp.zeros_like, u) if k in frozen else u for k, u in updates.items()}
            return (optax.apply_updates(p, updates), s), loss

        (p, s), losses = jax.lax.scan(step, (p, s), (rows, member_keys))
        return p, s, losses.mean()

    return jax.vmap(member)(params, state, order, keys)


@partial(jax.jit, static_argnums=(0,))
def _validate(spec, params, rows, weight, key, data):
    """Each member's loss on its own validation rows (members x rows indices, padding weighted 0)."""
    return jax.vmap(lambda p, r, w: spec.loss(p, {k: v[r] for k, v in data.items()}, w, key, False))(params, rows,
                                                                                                   weight)


def _validation_rows(val_weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per member, the indices of its validation rows and their weights, padded to one length with row 0 at
    weight 0. A bootstrap member leaves out about 37% of the rows: scoring only those, rather than every
    row with most weights 0, makes a validation pass about 2.7 times cheaper."""
    chosen = [np.flatnonzero(w > 0) for w in val_weight]
    width = max(1, max(len(c) for c in chosen))
    rows = np.zeros((len(chosen), width), dtype=np.int32)
    weight = np.zeros((len(chosen), width), dtype=np.float32)
    for m, c in enumerate(chosen):
        rows[m, :len(c)], weight[m, :len(c)] = c, val_weight[m, c]
    return rows, weight


@partial(jax.jit, static_argnums=(0, 1))
def _optimiser_state(learning_rate, weight_decay, params):
    return jax.vmap(optax.adamw(learning_rate, weight_decay=weight_decay).init)(params)


def _initial_params(spec, seed: np.random.SeedSequence, count: int):
    """Each member's parameters from its own child seed (numpy draws), stacked on a leading axis."""
    members = [spec.init(np.random.default_rng(child)) for child in seed.spawn(count)]
    return jax.tree.map(lambda *leaves: jnp.asarray(np.stack(leaves)), *members)


@jax.jit
def _keep_best(best, new, improved):
    return jax.tree.map(lambda b, n: jnp.where(improved.reshape((-1,) + (1,) * (b.ndim - 1)), n, b), best, new)


def fit_ensemble(spec, data: dict[str, np.ndarray], members: Members, settings: TrainSettings,
                 seed: np.random.SeedSequence | int, *, frozen: tuple[tuple[str, ...], ...] | None = None) -> EnsembleFit:
    """Train `members.size` copies of the network; phase p of `members` runs on epochs e with e % phases == p,
    with the parameter groups `frozen[p]` held fixed. With several phases, validation (and so early stopping,
    `patience` counting cycles) follows the last phase of each cycle; the other epochs' val_loss is NaN."""
    started = time.perf_counter()
    init_seq, shuffle_seq, val_seq = seed_sequence(seed).spawn(3)
    frozen = frozen or tuple(() for _ in members.phases)
    count = members.size
    params = _initial_params(spec, init_seq, count)
    state = _optimiser_state(settings.learning_rate, settings.weight_decay, params)
    arrays = {k: jnp.asarray(v, dtype=jnp.float32 if np.asarray(v).dtype.kind == "f" else None) for k, v in data.items()}
    n = members.val_weight.shape[1]
    checked = np.sort(np.random.default_rng(val_seq).choice(n, settings.max_validation_rows, replace=False)) \
        if n > settings.max_validation_rows else np.arange(n)
    val_arrays = {k: v[checked] for k, v in arrays.items()} if checked.size < n else arrays
    val_rows, val_weight = (jnp.asarray(a) for a in _validation_rows(members.val_weight[:, checked]))
    shuffle, val_key = np.random.default_rng(shuffle_seq), jax_key(val_seq)
    best, best_loss = params, np.full(count, np.inf)
    waited, best_epoch = np.zeros(count, dtype=int), np.zeros(count, dtype=int)
    train_curve, val_curve = [], []
    epoch = 0
    for epoch in range(settings.max_epochs):
        phase = epoch % len(members.phases)
        rows = members.phases[phase]
        size = settings.batch_for(rows.shape[1])
        steps = min(rows.shape[1] // size, settings.max_steps_per_epoch)
        order = shuffle.permuted(rows, axis=1)[:, : steps * size].reshape(count, steps, size)
        # raw threefry keys (two uint32 words) drawn on the host: no key-splitting kernels to compile
        keys = shuffle.integers(0, 2**32, size=(count, steps, 2), dtype=np.uint32)
        params, state, train_loss = _epoch(spec, settings.learning_rate, settings.weight_decay, frozen[phase],
                                           params, state, jnp.asarray(order), jnp.asarray(keys), arrays)
        train_curve.append(np.asarray(train_loss, dtype=float))
        if phase < len(members.phases) - 1:
            # several phases (DCN-PD's arms): validate once a cycle, after the last, as Alaa et al.'s code
            # does; a pass over all rows costs more than a small arm's epoch itself (bench/results/deep-speed.md)
            val_curve.append(np.full(count, np.nan))
            continue
        val_loss = np.asarray(_validate(spec, params, val_rows, val_weight, val_key, val_arrays), dtype=float)
        improved = val_loss < best_loss  # NaN never improves: a diverged member keeps its last good epoch
        best = _keep_best(best, params, jnp.asarray(improved))
        best_loss = np.where(improved, val_loss, best_loss)
        best_epoch = np.where(improved, epoch, best_epoch)
        waited = np.where(improved, 0, waited + 1)
        val_curve.append(val_loss)
        if (waited >= settings.patience).all():
            break
    return EnsembleFit(params=best, train_loss=np.stack(train_curve, axis=1), val_loss=np.stack(val_curve, axis=1),
                       best_epoch=best_epoch, epochs=epoch + 1, seconds=time.perf_counter() - started,
                       out_of_bag=members.val_weight > 0)
