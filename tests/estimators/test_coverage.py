"""Statistical validation on the demo's data-generating process: bias and 95% CI coverage."""

import numpy as np
import pytest

from data.generate import coupon_campaign
from estimators import get
from estimators.base import CausalData

REPLICATIONS = 100
ROWS = 3000


@pytest.mark.slow
def test_coverage_and_bias_on_the_coupon_campaign():
    """100 seeded draws of 3,000 users. With true coverage 0.95, observed coverage below 0.90 has
    binomial probability 0.6% (sd 0.022), so the threshold catches CIs that are too narrow. Bias:
    the mean error over draws must be within 3 Monte-Carlo standard errors of zero."""
    names = ["linear_regression", "ps_stratification", "ipw", "linear_dml"]
    errors = {n: [] for n in names}
    covered = {n: 0 for n in names}
    for rep in range(REPLICATIONS):
        frame, truth = coupon_campaign(rows=ROWS, seed=1000 + rep)
        data = CausalData.from_frame(frame, treatment="coupon_sent", outcome="gmv",
                                     adjustment=["historical_gmv", "member_level", "purchase_frequency", "user_activity"],
                                     modifiers=["member_level"])
        for name in names:
            est = get(name)(seed=rep).fit(data).estimate_
            errors[name].append(est.value - truth["ate"])
            covered[name] += est.ci_low <= truth["ate"] <= est.ci_high
    for name in names:
        err = np.asarray(errors[name])
        assert covered[name] / REPLICATIONS >= 0.90, (name, covered[name])
        assert abs(err.mean()) < 3 * err.std(ddof=1) / np.sqrt(REPLICATIONS), (name, err.mean())
