"""The run report opened in a real headless Chromium: every section present, every image loaded."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tasks.report.html import SECTIONS
from tests.tasks.report_fixture import write_report

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1200,2400"]


def _browser(profile: Path):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = ("Chromium is not installed (/usr/bin/chromium, /usr/bin/chromedriver); `./run.sh test` installs "
                  "the Debian packages chromium and chromium-driver with apt-get")
        if os.environ.get("CI"):
            pytest.fail(reason + ", and in CI the browser check must run")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.mark.slow
def test_report_opens_offline_with_every_section_and_image(tmp_path):
    page = write_report(tmp_path / "run")
    text = page.read_text()
    assert not re.search(r"""(src|href)=["'](?!data:|#)""", text), "the report must not load anything from outside"
    driver = _browser(tmp_path / "profile")
    try:
        driver.get(page.as_uri())
        found = driver.execute_script("return Array.from(document.querySelectorAll('section[id]')).map(s => s.id)")
        assert found == list(SECTIONS)
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.src.slice(0, 21)])")
        assert {alt for alt, *_ in images} >= {"forest plot", "propensity histogram", "propensity calibration",
                                               "love plot", "sensitivity contour plot", "causal graph"}
        for alt, complete, width, src in images:
            assert complete and width > 0, f"image {alt!r} did not load"
            assert src == "data:image/png;base64", f"image {alt!r} is not inlined"
        answer = driver.find_element("css selector", "#answer .answer").text
        assert "coupon raised gmv by " in answer
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1200, min(int(height) + 100, 16000))
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        keep = os.environ.get("WHYFLOW_KEEP_SCREENSHOT")  # a folder to copy the screenshot to, for a human look
        if keep:
            shutil.copy(shot, Path(keep) / "report.png")
    finally:
        driver.quit()
