import numpy as np

from estimators.base import CausalData
from tasks.overlap import check_overlap, overlap_failures, standardized_differences
from whyflow.spec import Gates


def confounded(n=20000, strength=1.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t = rng.binomial(1, 1 / (1 + np.exp(-strength * x))).astype(float)
    y = x + t + rng.normal(size=n)
    return CausalData(Y=y, T=t, W=x[:, None], X=np.empty((n, 0)), w_names=["x"], x_names=[])


def test_smd_matches_the_textbook_formula():
    rng = np.random.default_rng(1)
    W = rng.normal(size=(400, 2))
    t = np.repeat([0.0, 1.0], 200)
    W[t == 1, 0] += 0.5
    by_hand = (W[t == 1, 0].mean() - W[t == 0, 0].mean()) / np.sqrt((W[t == 1, 0].var() + W[t == 0, 0].var()) / 2)
    assert np.isclose(standardized_differences(W, t)[0], by_hand)


def test_weighting_removes_imbalance_and_support_is_reported():
    report = check_overlap(confounded())
    assert report.max_smd_before > 0.3
    assert report.max_smd_after < 0.02
    assert report.common_support > 0.99
    assert sum(report.histogram["treated"]) + sum(report.histogram["control"]) == 20000


def test_gates_name_threshold_and_value():
    report = check_overlap(confounded(strength=6.0))
    failures = overlap_failures(report, Gates(min_common_support=0.999, max_smd_after_weighting=0.01))
    assert any(f.startswith("common support") and "< min_common_support 0.999" in f for f in failures)
    assert any("max |SMD| after weighting" in f and "(x)" in f for f in failures)
    assert overlap_failures(check_overlap(confounded()), Gates(max_smd_after_weighting=0.05)) == []
