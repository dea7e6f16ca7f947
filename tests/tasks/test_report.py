"""The report's business sentences from a results dict (the page itself: test_report_browser.py)."""

from tasks.report.html import headline, render_report, verdict


def results(**changes):
    base = {"spec": {"name": "coupon_618", "treatment": "coupon_sent", "outcome": "gmv", "estimand": "ate"},
            "estimates": [{"estimator": "ipw", "estimand": "ate", "ate": 50.9, "ci_low": 47.8, "ci_high": 54.0,
                           "status": "ok"},
                          {"estimator": "linear_regression", "estimand": "ate", "ate": 50.5, "ci_low": 48.3,
                           "ci_high": 52.7, "status": "ok"},
                          {"estimator": "linear_dml", "estimand": "ate", "ate": None, "ci_low": None, "ci_high": None,
                           "status": "failed"}],
            "naive": {"ate": 223.6}, "survivors": ["ipw"],
            "refutations": [{"refuter": "placebo", "estimator": "ipw", "passed": True, "verdict": "pass",
                             "category": "sanity", "status": "ok"},
                            {"refuter": "placebo", "estimator": "linear_regression", "passed": False, "verdict": "fail",
                             "category": "sanity", "status": "ok"}],
            "overlap": {"common_support": 0.999, "max_smd_before": 0.976, "max_smd_after": 0.008},
            "sensitivity": {"ols": {"rv_q1": 0.139, "rv_q1_alpha05": 0.076}}}
    return base | changes


def test_headline_leads_with_the_answer_its_interval_why_and_the_naive_number():
    answer = {"estimator": "aipw", "estimand": "ate", "estimate": 50.9, "ci_low": 47.8, "ci_high": 54.0,
              "why": "back-door design: the doubly robust estimator"}
    text = headline(results(answer=answer))
    assert text == ("coupon_sent raised gmv by 50.9 per unit on average (ATE, 95% CI 47.8 to 54; aipw: back-door "
                    "design: the doubly robust estimator). A naive comparison of the two groups would have said 223.6.")
    lowered = headline(results(answer=answer | {"estimate": -3.0, "ci_low": -4.0, "ci_high": -2.0}))
    assert "lowered gmv by 3 per unit" in lowered
    assert headline(results(answer=None)).startswith("No estimator produced an estimate")


def test_verdict_reads_overlap_refutation_and_sensitivity():
    lines = verdict(results())
    assert "99.9% lie in the common support" in lines[0] and "0.008 SD (was 0.976)" in lines[0]
    assert lines[1].startswith("Checks of the headline estimate: ipw: sanity 1/1 passed")
    assert "no bias check ran" in lines[1]  # never 'survived' when nothing tested for bias
    answered = verdict(results(answer={"estimator": "linear_regression"}))
    assert answered[1].startswith("Checks of the headline estimate: linear_regression:") and "FAILED placebo" in answered[1]
    assert "13.9% of the remaining variation" in lines[2] and "7.6% to make it statistically insignificant" in lines[2]
    assert verdict(results(overlap=None, refutations=[], sensitivity=None)) == []


def test_missing_diagnostics_still_give_every_section(tmp_path):
    from tasks.report.html import SECTIONS

    minimal = results(overlap=None, sensitivity=None, refutations=[], survivors=[], cate_by_segment={},
                      quality={"success": False, "failed": ["expect_x"], "evaluated": 3, "rows": 10},
                      identification={"strategy": "backdoor", "backdoor": ["a"], "instruments": [], "latent": []},
                      versions={"data_md5": "x"}, truth=None)
    minimal["naive"] = {"ate": 1.0, "ci_low": 0.5, "ci_high": 1.5, "p_value": 0.01, "n": 10}
    for e in minimal["estimates"]:
        e |= {"p_value": None, "n": 10, "seconds": 0.1, "error": None}
    page = render_report(minimal, {}, tmp_path / "report.html").read_text()
    assert all(f'<section id="{key}">' in page for key in SECTIONS)
    assert "Failed: expect_x" in page and "Not computed" in page
