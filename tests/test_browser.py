"""A real browser against a real server: Debian's Chromium driven by Playwright.

Starts ``streamlit run app/streamlit_app.py`` offline on a free port, uploads a generated photo,
visits every page, and checks that each one drew its charts and images with no exception box
(and that the diagram's hover shows a walkthrough row); then uploads a broken file and looks for
the loader's sentence. Screenshots of the run are kept in ``tests/artifacts/browser/``, the
server's output in ``tests/artifacts/browser-server.log``.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "tests" / "artifacts" / "browser"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# (page title in the navigation, what the page must have drawn: css selector -> at least how many)
PAGES = [
    ("Predict", {".stPlotlyChart": 1, '[data-testid="stImage"] img': 2}),
    ("Architecture", {".stPlotlyChart": 1, '[data-testid="stDataFrame"]': 2}),
    ("Feature maps", {'[data-testid="stImage"] img': 2, ".stPlotlyChart": 1}),
    ("Kernels", {'[data-testid="stImage"] img': 2, ".stPlotlyChart": 1}),
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():  # CI installs it (.ci/run): there a missing browser is a failure
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing although .ci/run should have installed it")
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), "
                "as .ci/run does", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = dict(os.environ, ALEXNET_VIZ_OFFLINE="1")
    SHOTS.parent.mkdir(parents=True, exist_ok=True)
    log = open(SHOTS.parent / "browser-server.log", "w")  # the server's output, for a failed run
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "streamlit_app.py"),
         "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("streamlit did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 2600})
        pg.set_default_timeout(60_000)
        pg.goto(server)
        yield pg
        browser.close()


def photo(path: Path) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:400]
    img = np.stack([xx / 400 * 255, yy / 300 * 255, np.full_like(xx, 128.0)], -1) + rng.normal(0, 15, (300, 400, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def settle(pg) -> None:
    """Wait for the script run to finish: Streamlit marks the app element with its script state."""
    pg.wait_for_timeout(700)  # let a run that an action triggers begin
    pg.wait_for_function("""() => {
        const app = document.querySelector('[data-testid="stApp"]');
        return app && !['running', 'initial'].includes(app.getAttribute('data-test-script-state'));
    }""", timeout=120_000)
    pg.wait_for_timeout(300)


def test_every_page_draws_after_an_upload_and_a_broken_upload_is_explained(page, tmp_path):
    pg = page
    settle(pg)
    pg.screenshot(path=SHOTS / "00_first_visit.png", full_page=True)
    pg.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo(tmp_path / "gradient.png")))
    settle(pg)
    pg.get_by_text("gradient.png").first.wait_for()
    for i, (title, expect) in enumerate(PAGES, start=1):
        pg.get_by_role("link", name=title).first.click()
        settle(pg)
        for selector, n in expect.items():
            pg.locator(selector).nth(n - 1).wait_for(state="visible")
        if title == "Architecture":  # hovering a block shows its walkthrough row
            box = pg.locator(".stPlotlyChart .nsewdrag").first.bounding_box()
            blocks = 15  # input + 14 layer blocks, x from -0.8 to 14.6 in data units
            x = box["x"] + box["width"] * (1 + 0.8) / (blocks - 1 + 0.4 + 0.8)  # conv1's centre
            pg.mouse.move(x, box["y"] + box["height"] * 0.24)
            pg.locator(".hoverlayer").get_by_text("105,415,200").wait_for()
        pg.screenshot(path=SHOTS / f"{i:02d}_{title.lower().replace(' ', '_')}.png", full_page=True)
        assert pg.locator('[data-testid="stException"]').count() == 0, f"{title} shows an exception"
        # Offline with no cached weights the badge says "untrained network"; with weights, "weights: …".
        badge = pg.locator('[data-testid="stMain"]').get_by_text(re.compile(r"(untrained network|weights: .+)$"))
        assert badge.first.is_visible(), \
            f"{title} does not say which weights it shows"

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this jpeg stops here")
    pg.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(broken))
    settle(pg)
    alert = pg.locator('[data-testid="stAlertContentError"]').filter(has_text="broken.jpg")
    alert.first.wait_for()
    pg.screenshot(path=SHOTS / "09_broken_upload.png", full_page=True)
    assert pg.locator('[data-testid="stException"]').count() == 0
    assert pg.get_by_text("gradient.png").first.is_visible(), "the previous image survives"
