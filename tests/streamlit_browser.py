"""What the browser tests share: a ``streamlit run`` of the app on a free port, Debian's
Chromium driven by Playwright, and a wait for a script run to finish."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
# Chromium's own test camera (a moving pattern with a frame counter), granted without a prompt
FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")


def require_chromium() -> None:
    """Skip the calling test module without Chromium, except in CI, where it is a failure."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI"):  # CI installs it (.ci/run): there a missing browser is a failure
        raise RuntimeError(f"{CHROMIUM} is missing although .ci/run should have installed it")
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), "
                "as .ci/run does", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """``streamlit run app/streamlit_app.py`` offline on a free port; yields its URL.

    The server's output goes to ``log_path``, for a failed run; ``env`` adds to its environment.
    """
    port = free_port()
    env = dict(os.environ, ALEXNET_VIZ_OFFLINE="1", **(env or {}))
    log = open(log_path, "w")
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


@contextmanager
def chromium_page(url: str, extra_args: tuple[str, ...] = ()):
    """A Playwright page in headless Chromium, opened at ``url``; ``extra_args`` go to Chromium
    after the usual ``ARGS`` (e.g. ``FAKE_CAMERA``)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, *extra_args])
        pg = browser.new_page(viewport={"width": 1600, "height": 2600})
        pg.set_default_timeout(60_000)
        pg.goto(url)
        yield pg
        browser.close()




FINISHED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && !['running', 'initial'].includes(app.getAttribute('data-test-script-state'));
}"""
# What a finished run sent is on the screen: every picture decoded, every plotly chart drawn, every
# component's frame sized, every table in the first screen drawn (a table below it is drawn when
# scrolled to), no placeholder left (what a closed expander or an unchosen tab hides is not drawn
# until it is opened, so it does not count).
DRAWN = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    if (!main || document.querySelector('[data-testid="stSkeleton"]')) return false;
    const shown = e => e.getClientRects().length > 0;
    return [...document.querySelectorAll('img')].every(i => i.complete)
        && [...main.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => !shown(c) || c.querySelector('.main-svg'))
        && [...main.querySelectorAll('iframe')].every(f => f.offsetParent === null || f.getBoundingClientRect().height > 0)
        && [...main.querySelectorAll('[data-testid="stDataFrame"]')].every(t => !shown(t) || t.getBoundingClientRect().top > innerHeight || t.querySelector('canvas'));
}"""


def settle(pg) -> None:
    """Wait for the script run to finish: Streamlit marks the app element with its script state.
    First up to 700 ms for the run an action triggers to begin (seen at once when it does; a run
    shorter than a frame may be over before it is seen, and then the 700 ms pass)."""
    try:
        pg.wait_for_function("""() => document.querySelector('[data-testid="stApp"]')
            ?.getAttribute('data-test-script-state') === 'running'""", timeout=700)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: no run seen beginning within 700 ms
        pass
    pg.wait_for_function(FINISHED, timeout=120_000)
    pg.wait_for_timeout(300)


def loaded(pg, url: str) -> None:
    """Open ``url`` and wait until its first script run has finished and what it sent is drawn
    (``DRAWN``), then 300 ms for the layout to come to rest. Unlike ``settle``, no pause for a run
    to begin: a page that has just loaded shows "initial" until its first run starts."""
    pg.goto(url)
    pg.wait_for_function(FINISHED, timeout=120_000)
    pg.wait_for_function(DRAWN, timeout=60_000)
    pg.wait_for_timeout(300)


def choose(pg, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` (type it, click it), and settle."""
    box = pg.get_by_label(label, exact=True)
    box.click()
    box.fill(option)
    pg.get_by_role("option", name=option).first.click()
    settle(pg)


def photo_drawn(pg, name: str):
    """The sidebar's picture of the session's photo, captioned with its file name: drawn only by a
    server run on the uploaded photo. Not the uploader's own file row, which shows the name at
    once, in the browser, while the upload may still be going on: a page-link click then would
    race the upload's rerun, which Streamlit's browser code sends with the page it last heard
    of from the server, so the server could run Predict again instead of the clicked page."""
    return pg.locator('[data-testid="stSidebar"] [data-testid="stImageCaption"]').get_by_text(name)
