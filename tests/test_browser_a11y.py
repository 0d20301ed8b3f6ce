"""Every page in headless Chromium, one server for all: accessibility (WCAG 2.1 AA, checked by
axe-core) and the projector sizes.

axe-core comes from npm, pinned in ``tests/package.json`` / ``tests/package-lock.json``
(``npm ci --prefix tests``, as ``.ci/run`` does); the test injects its ``axe.min.js`` into each
page and fails on any critical or serious violation. Each page is opened by its address with the
default sample photo (Chelsea the cat), at 1280×720. What axe found, every impact, goes to
``tests/artifacts/browser/a11y.json``; screenshots to ``tests/artifacts/browser/a11y_*.png``.
"""
from __future__ import annotations

import json
import os

import pytest

from streamlit_browser import ARGS, CHROMIUM, ROOT, loaded, require_chromium, running_app, settle

SHOTS = ROOT / "tests" / "artifacts" / "browser"
AXE = ROOT / "tests" / "node_modules" / "axe-core" / "axe.min.js"
# Every page by its address (st.Page's url_path, or the file's name), and a word its main area shows.
PAGES = {"": "Predict", "lesson": "lesson", "quiz": "Shape quiz", "architecture": "Architecture",
         "feature_maps": "Feature maps", "unit": "How was this number made?", "lab": "Paper lab",
         "kernels": "Kernels", "attribution": "Why did it say that?", "lookfor": "What does it look for?",
         "camera": "Live camera"}
FAILING = ("critical", "serious")
FAILING_RULES = ("heading-order",)  # moderate, but every page passes it: a heading that skips a level fails

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()


def axe_violations(pg) -> list[dict]:
    """axe-core's violations on the page as it is now: rule, impact, how many nodes, a sample."""
    pg.add_script_tag(path=str(AXE))
    found = pg.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
                                       sample: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: '
                                                                        + (n.failureSummary || '').slice(0, 200))}));
    }""")
    return found


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if not AXE.exists():
        message = (f"{AXE} is missing: `make test` installs it with npm (npm ci --prefix tests; axe-core is "
                   "pinned in tests/package.json)")
        if os.environ.get("CI"):  # .ci/run installs npm, and make test runs npm ci: a failure there
            pytest.fail(message)
        pytest.skip(message)
    SHOTS.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("home")
    with running_app(SHOTS / "a11y-server.log", env={"ALEXNET_VIZ_HOME": str(home)}) as url:
        yield url


def test_axe_finds_no_critical_or_serious_violation_on_any_page(app_url):
    from playwright.sync_api import sync_playwright

    report: dict[str, list[dict]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
        pg.set_default_timeout(120_000)
        for path, word in PAGES.items():
            loaded(pg, f"{app_url}/{path}")  # the run finished and its charts and pictures drawn
            pg.get_by_text(word).first.wait_for(state="attached")
            assert pg.locator('[data-testid="stException"]').count() == 0, path
            if path == "":  # the uploader says one size: its label's, not the drop zone's "32MB per file"
                side = pg.locator('[data-testid="stSidebar"]')
                assert side.get_by_text("up to 20 MB").first.is_visible()
                assert not side.get_by_text("per file").first.is_visible()
            report[path or "predict"] = axe_violations(pg)
            pg.screenshot(path=SHOTS / f"a11y_{path or 'predict'}.png")
        browser.close()
    (SHOTS / "a11y.json").write_text(json.dumps(report, indent=1))
    bad = {page: [f"{v['id']} ({v['impact']}, {v['nodes']}): {v['sample']}" for v in found
                  if v["impact"] in FAILING or v["id"] in FAILING_RULES]
           for page, found in report.items()}
    bad = {page: found for page, found in bad.items() if found}
    assert not bad, json.dumps(bad, indent=1)


# -- the projector and the phone ----------------------------------------------------------------
PROJECTOR = [(1280, 720), (1024, 768)]
PHONE = (390, 844)
# Where each page's main result is, for "in the first screen": the first of these that is drawn.
RESULT = {"": '[data-testid="stPlotlyChart"]', "architecture": '[data-testid="stPlotlyChart"]',
          "lab": '[data-testid="stMetric"]', "unit": '[data-testid="stMetric"]',
          "feature_maps": 'iframe[title="streamlit_image_coordinates.streamlit_image_coordinates"]'}  # the tiles

LAYOUT = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const wide = [document.documentElement, document.body, main].filter(Boolean)
        .map(e => e.scrollWidth - e.clientWidth);
    const metric = document.querySelector('[data-testid="stMain"] [data-testid="stMetricValue"] p')
        || document.querySelector('[data-testid="stMain"] [data-testid="stMetricValue"]');
    // Nothing cut: no child of the main block wider than its box, no metric label ending in "…".
    const block = document.querySelector('[data-testid="stMainBlockContainer"]');
    const cut = [...(block ? block.querySelectorAll('[data-testid="stElementContainer"]') : [])]
        .filter(e => e.scrollWidth > e.clientWidth + 1 && !e.closest('.st-key-arch_diagram')
                && !e.querySelector('[data-testid="stDataFrame"]'))  // a table: its grid is measured below
        .map(e => (e.querySelector('[data-testid]') || e).getAttribute('data-testid') + ': '
                  + (e.innerText || '').slice(0, 40));
    // A table scrolls inside its own grid: one that needs to scroll sideways is cut at the right.
    document.querySelectorAll('[data-testid="stMain"] [data-testid="stDataFrame"] .dvn-scroller').forEach(e => {
        if (e.scrollWidth > e.clientWidth + 1) cut.push('stDataFrame: ' + (e.scrollWidth - e.clientWidth) + ' px more');
    });
    const ellipsis = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stMetricLabel"]')]
        .filter(l => [l, ...l.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1))
        .map(l => l.innerText);
    return {sideways: Math.max(...wide), innerHeight: window.innerHeight, cut: cut, ellipsis: ellipsis,
            metric: metric ? parseFloat(getComputedStyle(metric).fontSize) : null,
            h1: parseFloat(getComputedStyle(document.querySelector('[data-testid="stMain"] h1')).fontSize)};
}"""


def layout(pg, app_url: str, path: str, present: bool) -> dict:
    loaded(pg, f"{app_url}/{path}" + ("?present=1" if present else ""))
    assert pg.locator('[data-testid="stException"]').count() == 0, path
    found = pg.evaluate(LAYOUT)
    if path == "architecture":  # its labels need 780 px: narrower, it scrolls in its own box
        found["diagram_width"] = pg.locator('[data-testid="stPlotlyChart"] svg.main-svg').first.bounding_box()["width"]
    if path in RESULT:
        box = pg.locator(RESULT[path]).first.bounding_box()
        found["result_top"] = None if box is None else box["y"]
        found["result_seen"] = None if box is None else box["y"] + min(box["height"], 120)
    return found


@pytest.mark.parametrize("width, height", PROJECTOR, ids=[f"{w}x{h}" for w, h in PROJECTOR])
def test_projector_sizes_keep_the_result_in_view_and_presentation_mode_enlarges(app_url, width, height):
    """At 1280×720 and 1024×768, in both modes: no page scrolls sideways, the main result starts
    in the first screen, and presentation mode's type is larger (never smaller) than the usual."""
    from playwright.sync_api import sync_playwright

    problems, seen = [], {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for present in (False, True):
            pg = browser.new_context(viewport={"width": width, "height": height}).new_page()
            pg.set_default_timeout(120_000)
            for path in PAGES:
                got = seen[(width, present, path)] = layout(pg, app_url, path, present)
                where = f"{path or 'predict'} at {width}×{height}{' presenting' if present else ''}"
                if got["sideways"] > 1:
                    problems.append(f"{where}: scrolls {got['sideways']} px sideways")
                problems += [f"{where}: cut at the right: {c}" for c in got["cut"]  # the walkthrough's 10
                             if not (path == "architecture" and c.startswith("stDataFrame"))]  # columns scroll, layer pinned
                problems += [f"{where}: metric label cut: {c}" for c in got["ellipsis"]]
                if path in RESULT and (got.get("result_seen") is None or got["result_seen"] > height):  # 120 px
                    problems.append(f"{where}: the result starts at {got.get('result_top')} px")
                if got.get("diagram_width", 780) < 779:
                    problems.append(f"{where}: the diagram is squeezed to {got['diagram_width']} px")
                if present:
                    plain = seen[(width, False, path)]
                    for what in ("metric", "h1"):
                        if got[what] is not None and plain[what] is not None and got[what] < plain[what]:
                            problems.append(f"{where}: {what} {got[what]} px < {plain[what]} px without the mode")
                pg.screenshot(path=SHOTS / f"projector_{path or 'predict'}_{width}{'_present' if present else ''}.png")
            pg.context.close()
        browser.close()
    (SHOTS / f"projector_{width}.json").write_text(json.dumps({f"{k[2] or 'predict'} {k[0]} {k[1]}": v
                                                               for k, v in seen.items()}, indent=1))
    assert not problems, "\n".join(problems)


def test_no_page_scrolls_sideways_on_a_phone(app_url):
    """At a phone's 390×844 no page scrolls sideways."""
    from playwright.sync_api import sync_playwright

    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_context(viewport={"width": PHONE[0], "height": PHONE[1]}, is_mobile=True).new_page()
        pg.set_default_timeout(120_000)
        for path in PAGES:
            got = layout(pg, app_url, path, False)
            if got["sideways"] > 1:
                problems.append(f"{path or 'predict'} on a phone: scrolls {got['sideways']} px sideways")
        browser.close()
    assert not problems, "\n".join(problems)


def test_presentation_mode_keeps_the_sidebar_folded_while_pages_are_chosen(app_url):
    """Presenting, the page menu is in the top bar (st.navigation(position="top")), so choosing a
    page never opens the sidebar; the mode (present=1) stays on through the pages."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for width, height in PROJECTOR:
            pg = browser.new_context(viewport={"width": width, "height": height}).new_page()
            pg.set_default_timeout(120_000)
            pg.goto(f"{app_url}/?present=1")
            settle(pg)
            side, header = pg.locator('[data-testid="stSidebar"]'), pg.locator('[data-testid="stHeader"]')
            for title, path in (("Architecture", "architecture"), ("Feature maps", "feature_maps")):
                assert side.get_attribute("data-collapsed") == "true", (width, title)
                header.get_by_text(title, exact=True).first.click()
                settle(pg)
                assert f"/{path}" in pg.url and "present=1" in pg.url, pg.url
                assert side.get_attribute("data-collapsed") == "true", f"{title} at {width}: the sidebar opened"
                assert pg.locator('[data-testid="stMain"] h1').first.inner_text() == title
            pg.screenshot(path=SHOTS / f"present_nav_{width}.png")
            pg.goto(f"{app_url}/architecture")  # without the mode the menu is in the sidebar again
            settle(pg)
            assert header.get_by_text("Feature maps", exact=True).count() == 0
            assert side.get_by_text("Feature maps", exact=True).count() >= 1
            pg.context.close()
        browser.close()
