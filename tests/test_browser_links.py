"""A copied address opens the same view in another browser: in headless Chromium, choose a sample
photo and a network in the sidebar, go to "Why did it say that?" through the page menu (the
sidebar's choices must ride along, although a page change clears the address), choose Grad-CAM,
then open ``page.url`` in a new browser context (no shared session, cookies or storage) and
find the same photo, network and method. Screenshots go to ``tests/artifacts/browser/links_*.png``."""
from __future__ import annotations

import pytest

from streamlit_browser import ARGS, CHROMIUM, ROOT, choose, require_chromium, running_app, settle

SHOTS = ROOT / "tests" / "artifacts" / "browser"

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()


def view(pg) -> dict:
    """What the page shows: its title, the sidebar's photo caption and network line, the method."""
    side = pg.locator('[data-testid="stSidebar"]')
    return {"title": pg.locator('[data-testid="stMain"] h1').first.inner_text(),
            "photo": side.locator('[data-testid="stImageCaption"]').first.inner_text(),
            "network": side.get_by_text("Network:").first.inner_text(),
            "method": pg.get_by_label("Method", exact=True).input_value(),
            "map": pg.get_by_text("for “").first.inner_text()}


def test_a_copied_address_opens_the_same_view_in_a_new_browser(tmp_path):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(SHOTS / "links-server.log", env={"ALEXNET_VIZ_HOME": str(tmp_path)}) as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        first = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        first.set_default_timeout(60_000)
        first.goto(url)
        settle(first)
        choose(first, "Sample photo", "Coffee cup")
        choose(first, "Variant", "torchvision (one tower)")
        assert "sample=coffee" in first.url and "model=torchvision" in first.url, first.url
        first.get_by_role("link", name="Why did it say that?").first.click()
        settle(first)
        assert "sample=coffee" in first.url and "model=torchvision" in first.url, \
            f"the sidebar's choices ride along to the next page: {first.url}"
        choose(first, "Method", "Grad-CAM")
        first.get_by_text("Grad-CAM for “").first.wait_for(state="visible")
        link = first.url
        assert "method=grad_cam" in link, link
        shown = view(first)
        first.screenshot(path=SHOTS / "links_1_chosen.png", full_page=True)

        second = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()  # another visitor
        second.set_default_timeout(60_000)
        second.goto(link)
        settle(second)
        second.get_by_text("Grad-CAM for “").first.wait_for(state="visible")
        assert second.locator('[data-testid="stException"]').count() == 0
        second.screenshot(path=SHOTS / "links_2_opened.png", full_page=True)
        assert view(second) == shown
        assert shown["photo"].startswith("Coffee cup") and "torchvision" in shown["network"]
        assert shown["method"] == "Grad-CAM" and shown["title"] == "Why did it say that?"
        browser.close()
