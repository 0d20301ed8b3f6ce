"""The attribution page in a real browser: Debian's Chromium driven by Playwright against
``streamlit run`` (offline, untrained network). Picks a sample photo, opens the page, runs a
method, compares methods and runs the sanity check; asserts no exception box and that maps were
drawn. Screenshots go to ``tests/artifacts/browser-attribution/``, the server's output beside them.
"""
from __future__ import annotations

import shutil

import pytest
from streamlit_browser import ROOT, choose, chromium_page, require_chromium, running_app, settle

SHOTS = ROOT / "tests" / "artifacts" / "browser-attribution"
IMAGES = '[data-testid="stMain"] [data-testid="stImage"] img'

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()


@pytest.fixture(scope="module")
def server():
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    with running_app(SHOTS / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    with chromium_page(server) as pg:
        yield pg


def drawn(pg, n: int) -> None:
    """At least ``n`` images in the main area have loaded pixels."""
    pg.locator(IMAGES).nth(n - 1).wait_for(state="visible")
    widths = pg.locator(IMAGES).evaluate_all("els => els.map(e => e.complete ? e.naturalWidth : 0)")
    assert sum(w > 0 for w in widths) >= n, widths


def no_exception(pg, where: str) -> None:
    assert pg.locator('[data-testid="stException"]').count() == 0, f"{where} shows an exception"


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
    pg.get_by_text("How to show it").first.click()  # the display controls sit in an expander under the method
    pg.get_by_text("signed", exact=True).first.click()  # a display-only change
    settle(pg)
    no_exception(pg, "the signed display")
    pg.screenshot(path=SHOTS / "02_grad_cam_signed.png", full_page=True)

    pg.locator('[data-testid="stButtonGroup"]').get_by_text("Compare methods").click()
    settle(pg)
    drawn(pg, 4)  # the colour bar and three maps
    no_exception(pg, "the comparison")
    assert pg.get_by_text("Each map on its own colour scale").first.is_visible(), "no shared units: per map"
    pg.screenshot(path=SHOTS / "03_compare_per_map.png", full_page=True)

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
