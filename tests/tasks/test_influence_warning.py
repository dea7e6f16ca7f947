"""The influence check: one unit that moves the doubly robust answer by a sizeable share of its SE is
reported; sound data of the same size are not. The failing case is the 401(k) pattern (a wealthy
household with an extreme propensity in the other arm), built into simulated data."""

from dataclasses import replace

import numpy as np

from data.dgps import causal_data, linear_confounding
from estimators.registry import get
from tasks.estimate.answer import INFLUENCE_SE, choose_answer, influence_warning


def _answer(data):
    estimate = get("aipw")(seed=0).fit(data).estimate_
    return [estimate], choose_answer([estimate], "backdoor")


def test_sound_data_raise_no_influence_warning():
    # 5 seeds of linear confounding, n = 3,000: the largest single-unit shift stays well under the threshold
    for seed in range(5):
        estimates, answer = _answer(causal_data(linear_confounding(n=3000, seed=seed)))
        assert estimates[0].details["influence"]["max_shift_se"] < INFLUENCE_SE
        assert influence_warning(estimates, answer) is None


def test_one_extreme_unit_with_an_extreme_weight_is_named():
    data = causal_data(linear_confounding(n=3000, seed=1))
    # the control with the largest first covariate (the likeliest to be treated) gets a huge outcome
    controls = np.flatnonzero(data.T == 0)
    row = int(controls[np.argmax(data.covariates[controls, 0])])
    y = data.Y.copy()
    y[row] += 60 * y.std()
    estimates, answer = _answer(replace(data, Y=y))
    influence = estimates[0].details["influence"]
    assert influence["row"] == row and influence["max_shift_se"] > INFLUENCE_SE
    warning = influence_warning(estimates, answer)
    assert warning is not None and f"row {row} of the analysed data" in warning and "aipw" in warning


def test_small_samples_stay_quiet_even_with_an_extreme_unit():
    data = causal_data(linear_confounding(n=300, seed=1))
    y = data.Y.copy()
    y[int(np.argmax(np.abs(y)))] *= 50
    estimates, answer = _answer(replace(data, Y=y))
    assert influence_warning(estimates, answer) is None
