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

import pytest

from streamlit_browser import ARGS, CHROMIUM, ROOT, require_chromium, running_app, settle

SHOTS = ROOT / "tests" / "artifacts" / "browser"
AXE = ROOT / "tests" / "node_modules" / "axe-core" / "axe.min.js"
# Every page by its address (st.Page's url_path, or the file's name), and a word its main area shows.
PAGES = {"": "Predict", "lesson": "lesson", "quiz": "Shape quiz", "architecture": "Architecture",
         "feature_maps": "Feature maps", "unit": "How was this number made?", "lab": "Paper lab",
         "kernels": "Kernels", "attribution": "Why did it say that?", "lookfor": "What does it look for?",
         "camera": "Live camera"}
FAILING = ("critical", "serious")

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
        pytest.fail(f"{AXE} is missing: run `npm ci --prefix tests` (axe-core, pinned in tests/package.json)")
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
            pg.goto(f"{app_url}/{path}")
            settle(pg)
            pg.get_by_text(word).first.wait_for(state="attached")
            assert pg.locator('[data-testid="stException"]').count() == 0, path
            pg.wait_for_timeout(1500)  # charts and pictures arrive after the run
            report[path or "predict"] = axe_violations(pg)
            pg.screenshot(path=SHOTS / f"a11y_{path or 'predict'}.png")
        browser.close()
    (SHOTS / "a11y.json").write_text(json.dumps(report, indent=1))
    bad = {page: [f"{v['id']} ({v['impact']}, {v['nodes']}): {v['sample']}" for v in found
                  if v["impact"] in FAILING]
           for page, found in report.items()}
    bad = {page: found for page, found in bad.items() if found}
    assert not bad, json.dumps(bad, indent=1)
