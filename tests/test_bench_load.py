"""The load harness waits for an upload's own script run before its next click.

The uploader shows the file's name at once, in the browser, while the upload is still going on
over HTTP; a page-link click then raced the upload's rerun, which Streamlit's browser code sends
with the page it last heard of from the server, so the server ran Predict again instead of the
clicked page and the session waited 90 s for Feature maps (1 of 5 sessions in some runs of
``bench_load.py --sessions 5`` on a loaded 2-core machine). Here the upload is held back until
the test lets it go, so the race does not depend on the machine's load."""
from __future__ import annotations

import asyncio
import sys

import pytest

from streamlit_browser import ARGS, CHROMIUM, ROOT, require_chromium, running_app

sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_load  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()


async def _upload_then_feature_maps(url: str, picture) -> tuple[bool, str, int]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = await browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        held: asyncio.Future = asyncio.get_running_loop().create_future()
        await pg.route("**/_stcore/upload_file/**", lambda route: held.set_result(route))
        await pg.goto(url)
        await bench_load.settled(pg)
        drawn = bench_load.drawn_after(pg, picture)
        await pg.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(picture))
        route = await asyncio.wait_for(held, 60)
        done = asyncio.ensure_future(bench_load.action_done(pg, drawn["upload_predict"]))
        await asyncio.sleep(3)
        done_while_held = done.done()
        await route.continue_()
        await asyncio.wait_for(done, 90)
        await pg.get_by_role("link", name="Feature maps").first.click()
        await bench_load.action_done(pg, drawn["feature_maps"])
        heading = (await pg.locator('[data-testid="stMain"] h1').first.inner_text()).strip()
        tiles = await pg.locator('[data-testid="stMain"] iframe[title="streamlit_image_coordinates.'
                                 'streamlit_image_coordinates"]').count()
        await browser.close()
        return done_while_held, heading, tiles


def test_the_upload_step_waits_for_the_uploads_own_run(tmp_path):
    picture = bench_load.photo(tmp_path / "student-7.png", 7)
    with running_app(tmp_path / "server.log", env={"ALEXNET_VIZ_HOME": str(tmp_path / "home")}) as url:
        done_while_held, heading, tiles = asyncio.run(_upload_then_feature_maps(url, picture))
    assert not done_while_held, "the upload step counted as done while its file had not reached the server"
    assert heading.startswith("Feature maps") and tiles > 0, heading
