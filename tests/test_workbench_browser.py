"""The run report page in a real browser: `nas report` on a simulated run, opened from disk in Debian's Chromium through
Playwright (headless; no browser is downloaded), as tests/test_serve_browser.py does. The browser is NAS_CHROMIUM,
default /usr/bin/chromium; without it the test is skipped, or fails under CI=true. The page must load nothing from
anywhere but itself, and a full-page screenshot (in the test's temporary folder, printed with -s) must show it."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from conftest import chromium_or_skip
from PIL import Image

import nas
from nas.training import simulate
from nas.workbench import write_report

CHROMIUM = os.environ.get("NAS_CHROMIUM") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def chromium():
    return chromium_or_skip(CHROMIUM)


def test_the_report_renders_in_chromium_without_outside_requests(chromium, tiny_data, tmp_path):
    from playwright.sync_api import sync_playwright

    run = nas.evolve("cnn", tiny_data, population=6, generations=3, objectives="val_accuracy,-params",
                     executor=nas.InlineExecutor(evaluate=simulate), run_dir=tmp_path / "run", seed=0, verbose=False)
    page_path = write_report(run.path, top_k=3)
    text = page_path.read_text()
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.I)  # no absolute URL to fetch
    assert "<script" not in text and "<link" not in text and "@import" not in text

    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("request", lambda request: requests.append(request.url))
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("() => [...document.images].map(i => [i.complete, i.naturalWidth])")
        headings = page.locator("h2").all_inner_texts()
        page.locator("#top details summary").first.click()  # a layer summary opens
        layer_rows = page.locator("#top details table tbody tr").count()
        screenshot = tmp_path / "report.png"
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    print(f"screenshot of the report page: {screenshot}")

    assert [r for r in requests if not r.startswith(("file://", "data:"))] == []
    assert requests[0] == page_path.as_uri()
    assert len(images) >= 4 and all(complete and width > 100 for complete, width in images)
    assert "Gene importance" in headings and "Top genomes" in headings and "Trials per worker" in headings
    assert layer_rows >= 5
    pixels = np.asarray(Image.open(screenshot).convert("RGB"))
    assert pixels.shape[1] == 1280 and pixels.shape[0] > 3000  # the whole page, every section
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 200  # plots and charts, not a blank page
