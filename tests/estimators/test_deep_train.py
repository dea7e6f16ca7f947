"""The deep estimators' training core: bit-identical with one seed, in one process and across processes."""

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

from estimators.deep.dcn_pd import dropout_probability  # noqa: E402
from estimators.deep.tarnet import fit_tarnet  # noqa: E402
from estimators.deep.train import TrainSettings, make_members  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"rep_sizes": (16, 16), "head_sizes": (8,)}
QUICK = TrainSettings(max_epochs=8, patience=3)


def toy_binary(n=300, seed=0):
    """A confounded binary treatment with a heterogeneous effect, small enough for a few epochs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    t = (rng.random(n) < 1 / (1 + np.exp(-x[:, 0]))).astype(float)
    y = x[:, 1] + t * (1 + x[:, 2]) + rng.normal(size=n)
    return x, t, y


def _fingerprint(seed: int) -> str:
    x, t, y = toy_binary()
    fit = fit_tarnet(x, t, y, n_members=3, seed=seed, settings=QUICK, **SMALL)
    arrays = [fit.cate(x), fit.ensemble.val_loss, fit.ensemble.train_loss]
    return digest(arrays)


def digest(arrays) -> str:
    """One hash of the arrays' bytes: equal only if every value is bit-identical."""
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()


def test_same_seed_bit_identical_twice_in_one_process():
    assert _fingerprint(7) == _fingerprint(7)
    assert _fingerprint(7) != _fingerprint(8)


def test_same_seed_bit_identical_across_processes():
    code = ("import sys; sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r}); "
            "from test_deep_train import _fingerprint; print(_fingerprint(7))").format(
        root=str(ROOT), tests=str(Path(__file__).parent))
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert other.stdout.strip() == _fingerprint(7)


def test_curves_have_one_value_per_epoch_and_members_stop_at_their_best():
    x, t, y = toy_binary()
    fit = fit_tarnet(x, t, y, n_members=3, seed=0, settings=TrainSettings(max_epochs=30, patience=4), **SMALL)
    curves = fit.ensemble.curves()
    assert list(curves) == ["0", "1", "2"]  # one entry per member, keyed by its index as text
    for member in curves.values():
        assert set(member) == {"train_loss", "val_loss"}
        assert len(member["train_loss"]) == len(member["val_loss"]) == fit.ensemble.epochs
        assert all(isinstance(v, float) for v in member["val_loss"])  # plain floats: JSON as is
    assert (fit.ensemble.best_epoch <= fit.ensemble.epochs - 1).all()


def test_bootstrap_members_keep_each_arm_size_and_validate_out_of_bag():
    t = np.array([1.0] * 30 + [0.0] * 70)
    members = make_members(100, 4, 0, strata=t)
    rows = members.phases[0]
    assert rows.shape == (4, 100)
    assert all((t[r] == 1).sum() == 30 for r in rows)
    for r, weight in zip(rows, members.val_weight):
        assert not weight[r].any() and weight.sum() == 100 - len(set(r))
    split = members.by_label(t)
    assert split.phases[0].shape == (4, 30) and split.phases[1].shape == (4, 70)


def test_propensity_dropout_is_largest_where_treatment_is_nearly_certain():
    p = dropout_probability(np.array([0.5, 0.9, 0.999]), gamma=1.0)
    assert p[0] == pytest.approx(0.0, abs=1e-9) and p[0] < p[1] < p[2] <= 0.5
