"""The Live camera page in a real browser with Chromium's fake camera: START opens the camera,
WebRTC connects over loopback with no STUN server, the server processes frames (its counter on the
page rises) and the picture that comes back is the composed one (the camera's 640 px with the maps
beside it, so wider than the camera), then STOP ends it. Screenshots at 1400×900 and 1280×720 go
to ``tests/artifacts/browser/camera_*.png``, the server's output beside them."""
from __future__ import annotations

import time

import pytest
from streamlit_browser import FAKE_CAMERA, ROOT, chromium_page, require_chromium, running_app, settle

SHOTS = ROOT / "tests" / "artifacts" / "browser"
COMPONENT = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'
WAIT_S = 180  # generous: on a busy 2-core machine a frame has taken a second

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    SHOTS.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("home")
    with running_app(SHOTS / "camera-server.log", env={"ALEXNET_VIZ_HOME": str(home)}) as url:
        yield url


def frames_processed(pg) -> int:
    metric = pg.locator('[data-testid="stMetric"]').filter(has_text="Frames processed")
    return int(metric.locator('[data-testid="stMetricValue"]').inner_text())


def wait_for_frames(pg, more_than: int) -> int:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        n = frames_processed(pg)
        if n > more_than:
            return n
        pg.wait_for_timeout(1000)
    pytest.fail(f"no more than {more_than} frames processed within {WAIT_S} s; see camera-server.log")


def test_fake_camera_frames_arrive_are_processed_and_come_back_composed(app):
    with chromium_page(app + "/camera", FAKE_CAMERA) as pg:
        pg.set_viewport_size({"width": 1400, "height": 900})
        settle(pg)
        assert pg.locator('[data-testid="stException"]').count() == 0
        assert frames_processed(pg) == 0
        frame = pg.frame_locator(COMPONENT)
        frame.get_by_role("button", name="START").click()
        first = wait_for_frames(pg, 0)
        later = wait_for_frames(pg, first)  # still counting: a stream, not one frame
        assert later > first
        video = frame.locator("video").first
        pg.wait_for_function("v => v.readyState >= 2 && v.videoWidth > 0", arg=video.element_handle(),
                             timeout=WAIT_S * 1000)
        width, height = video.evaluate("v => [v.videoWidth, v.videoHeight]")
        # the fake camera sends 640×480; what comes back carries the maps beside it
        assert height == 480 and width > 640 + 200, (width, height)
        pg.wait_for_timeout(2500)  # a fresh picture and the fragment's next count before the shots
        pg.screenshot(path=SHOTS / "camera_1400x900.png")
        pg.set_viewport_size({"width": 1280, "height": 720})
        pg.wait_for_timeout(1500)
        pg.screenshot(path=SHOTS / "camera_1280x720.png")
        assert pg.locator('[data-testid="stException"]').count() == 0
        rate = pg.locator('[data-testid="stMetric"]').filter(has_text="Updates/s")
        assert rate.locator('[data-testid="stMetricValue"]').inner_text() != "–"

        frame.get_by_role("button", name="STOP").click()
        settle(pg)
        stopped = frames_processed(pg)
        pg.wait_for_timeout(5000)
        # a rerun (another layer) shows the server's count now: it has stopped counting
        pg.locator('[data-testid="stSelectbox"]').filter(has_text="Layer to watch").click()
        pg.get_by_role("option", name="relu1", exact=True).click()
        settle(pg)
        assert frames_processed(pg) <= stopped + 1, "after STOP, no more frames are processed"
        assert pg.locator('[data-testid="stException"]').count() == 0
