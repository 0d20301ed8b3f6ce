"""A real browser against a real server: Debian's Chromium driven by Playwright.

Starts ``streamlit run app/streamlit_app.py`` offline on a free port, uploads a generated photo,
visits every page, and checks that each one drew its charts and images with no exception box
(and that the diagram's hover shows a walkthrough row); then uploads a broken file and looks for
the loader's sentence. Screenshots of the run are kept in ``tests/artifacts/browser/``, the
server's output in ``tests/artifacts/browser-server.log``.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from streamlit_browser import ROOT, chromium_page, photo_drawn, require_chromium, running_app, settle

SHOTS = ROOT / "tests" / "artifacts" / "browser"
# (page title in the navigation, what the page must have drawn: css selector -> at least how many)
PAGES = [
    ("Predict", {".stPlotlyChart": 1, '[data-testid="stImage"] img': 2}),
    ("Architecture", {".stPlotlyChart": 1, '[data-testid="stDataFrame"]': 1, '[data-testid="stTable"]': 1}),
    ("Feature maps", {'[data-testid="stImage"] img': 2, ".stPlotlyChart": 1}),
    ("Kernels", {'[data-testid="stImage"] img': 2, ".stPlotlyChart": 1}),
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()


@pytest.fixture(scope="module")
def server():
    SHOTS.parent.mkdir(parents=True, exist_ok=True)
    with running_app(SHOTS.parent / "browser-server.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with chromium_page(server) as pg:
        yield pg


def photo(path: Path) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:400]
    img = np.stack([xx / 400 * 255, yy / 300 * 255, np.full_like(xx, 128.0)], -1) + rng.normal(0, 15, (300, 400, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def test_every_page_draws_after_an_upload_and_a_broken_upload_is_explained(page, tmp_path):
    pg = page
    settle(pg)
    pg.screenshot(path=SHOTS / "00_first_visit.png", full_page=True)
    pg.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(photo(tmp_path / "gradient.png")))
    settle(pg)
    # the server's own picture of the photo, not the uploader's row (photo_drawn says why)
    photo_drawn(pg, "gradient.png").wait_for()
    settle(pg)
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


@pytest.mark.parametrize("width, height", [(1280, 720), (1024, 768)])
def test_every_page_fits_a_projector_without_sideways_scrolling(page, server, width, height):
    """A lecturer's screen: each page draws without an exception and needs no horizontal scroll;
    its first screen is kept as a screenshot to look at."""
    titles = ["Predict", "Eight-step lesson", "Shape quiz", "Architecture", "Feature maps",
              "How was this number made?", "Paper lab", "Kernels", "Why did it say that?", "What does it look for?",
              "Live camera"]
    context = page.context.browser.new_context(viewport={"width": width, "height": height})  # a fresh session
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(server)
    settle(pg)
    for title in titles:
        pg.get_by_role("link", name=title).first.click()
        settle(pg)
        assert pg.locator('[data-testid="stException"]').count() == 0, f"{title} shows an exception"
        scroll, client = pg.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert scroll <= client, f"{title} scrolls sideways at {width}×{height} ({scroll} > {client})"
        pg.screenshot(path=SHOTS / f"fit_{width}x{height}_{title.split()[0].lower()}.png")
    context.close()
