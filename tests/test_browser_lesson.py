"""The lesson in a real browser, in presentation mode: a link to step 2 with present=1 opens that
step with the sidebar folded away, fits 1280×720 and 1024×768 without horizontal scrolling, and
keeps its step through a reload. Screenshots go to ``tests/artifacts/browser/lesson_*.png``, the
server's output beside them."""
from __future__ import annotations

import pytest

from streamlit_browser import ROOT, chromium_page, require_chromium, running_app, settle

SHOTS = ROOT / "tests" / "artifacts" / "browser"
LINK = "/lesson?step=2&present=1"
SIZES = [(1280, 720), (1024, 768)]

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()

NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


def step_title(pg) -> str:
    return pg.locator('[data-testid="stMain"] h2').first.inner_text()


def test_a_presentation_link_opens_the_step_fits_both_screens_and_survives_a_reload(tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(SHOTS / "lesson-server.log", env={"ALEXNET_VIZ_HOME": str(tmp_path)}) as url, \
            chromium_page(url + LINK) as pg:
        for width, height in SIZES:
            pg.set_viewport_size({"width": width, "height": height})
            settle(pg)
            pg.wait_for_timeout(800)  # let the images and the sidebar's fold finish
            assert pg.locator('[data-testid="stException"]').count() == 0
            assert step_title(pg).startswith("Step 2 of 8"), step_title(pg)
            assert "step=2" in pg.url and "present=1" in pg.url
            sidebar = pg.locator('[data-testid="stSidebar"]')
            assert sidebar.get_attribute("data-collapsed") == "true", "presentation mode folds the sidebar"
            assert pg.evaluate(NO_SIDEWAYS_SCROLL), (
                pg.evaluate("document.documentElement.scrollWidth"), width)
            size = pg.evaluate("getComputedStyle(document.querySelector("
                               "'[data-testid=\"stMain\"] [data-testid=\"stMarkdownContainer\"] p')).fontSize")
            assert float(size.rstrip("px")) >= 20, f"larger type in presentation mode, got {size}"
            first = pg.locator('[data-testid="stMain"] [data-testid="stImage"]').first
            first.wait_for(state="visible")
            assert first.bounding_box()["y"] < height, "the picture is in the first screen"
            pg.screenshot(path=SHOTS / f"lesson_step2_present_{width}x{height}.png")

        pg.get_by_role("button", name="Next →").click()
        settle(pg)
        assert step_title(pg).startswith("Step 3 of 8") and "step=3" in pg.url
        pg.reload()
        settle(pg)
        assert step_title(pg).startswith("Step 3 of 8"), "a reload opens the same step"
        assert "present=1" in pg.url and pg.evaluate(NO_SIDEWAYS_SCROLL)
        pg.screenshot(path=SHOTS / "lesson_step3_after_reload_1024x768.png")
