"""DCN-PD's alternating training: whole-arm epochs through zero-weight padding, one validation per cycle, seeded."""

import numpy as np
import pytest

pytest.importorskip("jax")

from estimators.deep.dcn_pd import DcnSpec, _full_batches, fit_dcn_pd  # noqa: E402
from estimators.deep.train import TrainSettings  # noqa: E402
from tests.estimators.test_deep_train import digest, toy_binary  # noqa: E402

SMALL = {"shared_sizes": (16, 16), "head_sizes": (8,)}
QUICK = TrainSettings(max_epochs=6, patience=3)


def _fingerprint(seed: int) -> str:
    x, t, y = toy_binary(250)
    fit = fit_dcn_pd(x, t, y, n_members=3, seed=seed, settings=QUICK, **SMALL)
    arrays = [fit.cate(x), fit.ensemble.val_loss, fit.ensemble.train_loss, fit.extra["propensity"]]
    return digest(arrays)


def test_same_seed_bit_identical():
    assert _fingerprint(3) == _fingerprint(3)
    assert _fingerprint(3) != _fingerprint(4)


def test_arm_rows_are_padded_to_whole_batches_with_the_pad_row():
    rows = np.arange(2 * 70).reshape(2, 70)
    padded = _full_batches(rows, 999, TrainSettings())
    assert padded.shape == (2, 128)
    assert (padded[:, :70] == rows).all() and (padded[:, 70:] == 999).all()
    assert _full_batches(rows[:, :64], 999, TrainSettings()).shape == (2, 64)  # whole already: unchanged


def test_validation_once_per_cycle_and_padding_never_reaches_the_results():
    x, t, y = toy_binary(250)
    fit = fit_dcn_pd(x, t, y, n_members=3, seed=0, settings=QUICK, **SMALL)
    ensemble = fit.ensemble
    assert ensemble.out_of_bag.shape == (3, len(y))  # the two padding rows are cut off
    assert np.isnan(ensemble.val_loss[:, 0::2]).all() and np.isfinite(ensemble.val_loss[:, 1::2]).all()
    assert (ensemble.best_epoch % 2 == 1).all()  # chosen after a control epoch, the end of a cycle
    assert fit.cate(x).shape == (3, len(y))


def test_a_training_batch_of_one_arm_leaves_the_other_head_out():
    spec = DcnSpec(4, (8,), (4,))
    params = spec.init(np.random.default_rng(0))
    batch = {"x": np.ones((5, 4), np.float32), "t": np.ones(5, np.float32), "y": np.zeros(5, np.float32),
             "p_drop": np.full(5, 0.2, np.float32), "w": np.ones(5, np.float32)}
    key = np.array([1, 2], dtype=np.uint32)
    moved = {**params, "h0": [(w + 1.0, b + 1.0) for w, b in params["h0"]]}
    weight = np.ones(5, np.float32)
    assert float(spec.loss(params, batch, weight, key, True)) == float(spec.loss(moved, batch, weight, key, True))
    assert float(spec.loss(params, batch, weight, key, True)) != float(
        spec.loss({**params, "h1": moved["h0"]}, batch, weight, key, True))
