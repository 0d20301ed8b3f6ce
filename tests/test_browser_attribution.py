"""The attribution page in a real browser: Debian's Chromium driven by Playwright against
``streamlit run`` (offline, untrained network). Picks a sample photo, opens the page, runs a
method, compares methods and runs the sanity check; asserts no exception box and that maps were
drawn. Screenshots go to ``tests/artifacts/browser-attribution/``, the server's output beside them.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "tests" / "artifacts" / "browser-attribution"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
IMAGES = '[data-testid="stMain"] [data-testid="stImage"] img'

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
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    log = open(SHOTS / "server.log", "w")  # the server's output, for a failed run
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

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1600, "height": 2600})
        pg.set_default_timeout(60_000)
        pg.goto(server)
        yield pg
        browser.close()


def settle(pg) -> None:
    """Wait for the script run to finish: Streamlit marks the app element with its script state."""
    pg.wait_for_timeout(700)  # let a run that an action triggers begin
    pg.wait_for_function("""() => {
        const app = document.querySelector('[data-testid="stApp"]');
        return app && !['running', 'initial'].includes(app.getAttribute('data-test-script-state'));
    }""", timeout=120_000)
    pg.wait_for_timeout(300)


def drawn(pg, n: int) -> None:
    """At least ``n`` images in the main area have loaded pixels."""
    pg.locator(IMAGES).nth(n - 1).wait_for(state="visible")
    widths = pg.locator(IMAGES).evaluate_all("els => els.map(e => e.complete ? e.naturalWidth : 0)")
    assert sum(w > 0 for w in widths) >= n, widths


def no_exception(pg, where: str) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0, f"{where} shows an exception"


def choose(pg, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (type, then press Enter)."""
    box = pg.get_by_label(label, exact=True)
    box.click()
    box.fill(option)
    pg.get_by_role("option", name=option).first.click()
    settle(pg)


def test_attribution_page_runs_methods_compares_and_checks(page):
    pg = page
    settle(pg)
    choose(pg, "Sample photo", "Coffee cup")
    pg.get_by_role("link", name="Why did it say that?").first.click()
    settle(pg)
    drawn(pg, 3)  # the colour bar, the overlay, the bare map
    no_exception(pg, "the attribution page")
    assert pg.get_by_text("explain a random network").first.is_visible()
    pg.screenshot(path=SHOTS / "01_saliency.png", full_page=True)

    choose(pg, "Method", "Grad-CAM")
    drawn(pg, 3)
    no_exception(pg, "Grad-CAM")
    assert pg.get_by_text("Grad-CAM for “").first.is_visible()
    pg.get_by_text("signed", exact=True).first.click()  # a display-only change
    settle(pg)
    no_exception(pg, "the signed display")
    pg.screenshot(path=SHOTS / "02_grad_cam_signed.png", full_page=True)

    pg.locator('[data-testid="stButtonGroup"]').get_by_text("Compare methods").click()
    settle(pg)
    drawn(pg, 4)  # the colour bar and three maps
    no_exception(pg, "the comparison")
    assert pg.get_by_text("One shared colour scale").first.is_visible()
    pg.screenshot(path=SHOTS / "03_compare_shared.png", full_page=True)

    pg.locator('[data-testid="stButtonGroup"]').get_by_text("Sanity check").click()
    settle(pg)
    pg.get_by_role("button", name="Run the sanity check").click()
    settle(pg)
    pg.locator(".stPlotlyChart").first.wait_for(state="visible")
    drawn(pg, 3)  # the colour bar and one row of maps per method
    no_exception(pg, "the sanity check")
    pg.mouse.move(5, 5)  # no tooltip over the picture
    pg.wait_for_timeout(300)
    pg.screenshot(path=SHOTS / "04_sanity_check.png", full_page=True)
