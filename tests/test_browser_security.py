"""What a class server promises its visitors, checked against a real server and browser: a
closed tab's photo leaves the server (its /media address answers 404) while open tabs keep
theirs, and an upload over the limit is explained in the page. The config test checks the
defaults a class server starts with."""
from __future__ import annotations

import tomllib
import urllib.error
import urllib.request

import pytest
from streamlit_browser import ROOT, require_chromium, running_app, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()
GONE_AFTER_S = 2  # the server under test closes a session this long after its tab (default: 60 s)


def status(url: str) -> int:
    try:
        return urllib.request.urlopen(url, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def media_urls(pg, base: str) -> list[str]:
    srcs = pg.eval_on_selector_all('[data-testid="stSidebar"] [data-testid="stImage"] img', "els => els.map(e => e.src)")
    return [s if s.startswith("http") else base + s for s in srcs if "/media/" in s]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = ROOT / "tests" / "artifacts" / "browser-security-server.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with running_app(log, env={"ALEXNET_VIZ_SESSION_GONE_AFTER_S": str(GONE_AFTER_S)}) as url:
        yield url


def open_page(browser, url: str):
    pg = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    pg.set_default_timeout(60_000)
    pg.goto(url)
    settle(pg)
    return pg


def test_a_closed_tabs_photo_leaves_the_server_and_open_tabs_keep_theirs(server, browser, tmp_path):
    import numpy as np
    from PIL import Image

    own = tmp_path / "mine.png"  # a photo only the leaving tab has (the same sample shares one file)
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (200, 300, 3), dtype=np.uint8)).save(own)
    staying, leaving = open_page(browser, server), open_page(browser, server)
    leaving.locator('[data-testid="stSidebar"] input[type="file"]').first.set_input_files(str(own))
    settle(leaving)
    kept, gone = media_urls(staying, server), media_urls(leaving, server)
    assert kept and gone and set(kept).isdisjoint(gone)
    assert status(gone[0]) == 200, "served while the tab is open"
    leaving.context.close()
    for _ in range(60):  # the reaper runs every 0.5 s here; Streamlit alone kept it over 200 s
        if status(gone[0]) == 404:
            break
        staying.wait_for_timeout(500)
    assert status(gone[0]) == 404, "the closed tab's photo is still served"
    assert status(kept[0]) == 200, "an open tab keeps its photo"
    staying.context.close()


def test_an_upload_over_the_limit_is_explained_in_the_page(server, browser, tmp_path):
    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(25 * 2**20))  # 25 MB: over the loader's 20 MB
    pg = open_page(browser, server)
    pg.locator('[data-testid="stSidebar"] input[type="file"]').first.set_input_files(str(big))
    # 25 MB take a while to reach a busy server: wait for the sentence, not for a run that
    # may not have started yet (settle alone once returned before the upload had arrived)
    alert = pg.locator('[data-testid="stSidebar"] [data-testid="stAlert"]').filter(has_text="huge.png")
    alert.first.wait_for(timeout=120_000)
    settle(pg)
    alerts = pg.locator('[data-testid="stSidebar"] [data-testid="stAlert"]').all_inner_texts()
    assert any("huge.png" in a and "20 MB limit" in a for a in alerts), alerts
    pg.context.close()


def test_class_server_defaults():
    conf = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert conf["client"]["showErrorDetails"] == "none"
    assert conf["server"]["address"] == "localhost"
    assert conf["server"]["enableXsrfProtection"] is True
    assert conf["server"]["fileWatcherType"] == "none", "watching sources costs about 0.45 CPU-s per student (docs/serving.md)"
    import alexnet_viz as av

    assert conf["server"]["maxUploadSize"] * 2**20 > av.MAX_BYTES, "the page, not the browser, refuses big files"
    import sys

    sys.path.insert(0, str(ROOT / "app"))
    import server

    assert server.SESSION_GONE_AFTER_S <= 60 < conf["server"]["disconnectedSessionTTL"], \
        "sessions are closed by the app before Streamlit silently drops them"
