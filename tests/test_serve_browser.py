"""The web page end to end: `nas serve` in a subprocess on a free localhost port, driven by Debian's Chromium through
Playwright (headless; no browser is downloaded). The browser is NAS_CHROMIUM, default /usr/bin/chromium; without it the
test is skipped, or fails under CI=true. Saves a screenshot of the result page in the test's temporary folder (printed
with -s), never in the repository."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import chromium_or_skip
from PIL import Image

import nas
from nas.images import MAX_BYTES
from nas.serve import Predictor

CHROMIUM = os.environ.get("NAS_CHROMIUM") or "/usr/bin/chromium"
START_SECONDS = 120  # TensorFlow and Gradio imports, training the search's best genome, the warm-up prediction


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    chromium_or_skip(CHROMIUM)
    folder = tmp_path_factory.mktemp("browser")
    run = nas.evolve("cnn", nas.data.synthetic_lesions(n=140, image_size=16, seed=0), population=2, generations=1,
                     executor="inline", run_dir=folder / "run", seed=0, verbose=False)
    port = free_port()
    log = open(folder / "server.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "nas", "serve", str(run.path), "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.seek(0)
                pytest.fail(f"nas serve did not come up at {url}:\n{log.read()[-3000:]}")
            time.sleep(0.5)
    yield {"url": url, "run": run, "folder": folder}
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def browser_page(server):
    """The page open in headless Chromium, and the list of requests it made to anywhere but the server."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.on("request", lambda request: None if request.url.startswith((server["url"], "data:", "blob:"))
                else outside.append(request.url))
        page.goto(server["url"])
        page.wait_for_selector("#upload input[type=file]", state="attached", timeout=30_000)
        yield page, outside
        browser.close()


HEATMAP_SHOWN = "() => [...document.querySelectorAll('#heatmap img')].some(img => img.complete && img.naturalWidth > 0)"


def choose_file(page, path: Path) -> None:
    field = page.locator("#upload input[type=file]")
    if not field.count():  # a file is shown: the file input comes back once it is cleared
        page.locator("#upload button[aria-label='Clear']").click()
    field.set_input_files(str(path))


def upload(page, path: Path, expected: str) -> str:
    choose_file(page, path)
    page.wait_for_function("text => document.querySelector('#verdict').innerText.includes(text)", arg=expected,
                           timeout=30_000)
    return page.inner_text("#verdict")


def test_upload_shows_class_probability_and_heatmap_and_bad_files_get_a_clear_message(server, browser_page):
    page, outside = browser_page
    x_test = nas.data.from_spec(server["run"].config["data"]).x_test
    photo = server["folder"] / "lesion.png"
    Image.fromarray(np.round(x_test[3] * 255).astype(np.uint8)).resize((240, 240)).save(photo)
    # The server has saved the model it serves (best/model.keras); the same model here says what the page must show.
    predictor = Predictor.from_run(server["run"].path)
    expected = predictor.predict(photo)

    verdict = upload(page, photo, expected["class_name"])
    assert f"{expected['class_name']}: {expected['probability']:.0%}" in verdict
    assert ("Malignant" if expected["verdict"] == "malignant" else "Benign") in verdict
    assert "Next step" in verdict and "not a diagnosis" in verdict
    classes = page.inner_text("#classes")
    assert all(name in classes for name, _ in expected["top"])
    assert f"{round(expected['top'][1][1] * 100)}%" in classes
    page.wait_for_function(HEATMAP_SHOWN, timeout=30_000)
    page.screenshot(path=str(server["folder"] / "result.png"), full_page=True)
    assert (server["folder"] / "result.png").stat().st_size > 0
    print(f"screenshot of the result page: {server['folder'] / 'result.png'}")

    text = server["folder"] / "notes.txt"
    text.write_text("this is not a photo")
    message = upload(page, text, "Cannot use this file")
    assert "notes.txt: not an image" in message and "JPEG or PNG" in message
    assert "Traceback" not in page.inner_text("body")
    assert not page.evaluate(HEATMAP_SHOWN)

    oversized = server["folder"] / "huge.jpg"
    with open(oversized, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)
    choose_file(page, oversized)
    page.get_by_text("exceed the maximum allowed size").wait_for(timeout=30_000)

    assert expected["class_name"] in upload(page, photo, expected["class_name"])  # the server still answers
    page.wait_for_function(HEATMAP_SHOWN, timeout=30_000)

    # An example the page shows, picked so that its verdict differs from the one on the page now.
    headline = f"{expected['class_name']}: {expected['probability']:.0%}"
    examples = {path.name: predictor.predict(path) for path in predictor.example_images(server["folder"] / "ex")}
    name, shown = next((name, r) for name, r in examples.items()
                       if f"{r['class_name']}: {r['probability']:.0%}" != headline)
    page.get_by_text(name, exact=True).click()
    page.wait_for_function("text => document.querySelector('#verdict').innerText.includes(text)",
                           arg=f"{shown['class_name']}: {shown['probability']:.0%}", timeout=30_000)

    page.get_by_role("tab", name="Model card").click()
    card = page.locator("#model-card")
    card.wait_for(state="visible")
    assert "not retrained yet" in card.inner_text() and server["run"].best.genome_hash in card.inner_text()
    assert outside == []  # nothing loaded from (or sent to) the internet
    assert page.get_by_text("Runs", exact=True).count() == 0  # no run history keeps earlier patients' photos
