"""A live class in real browsers (app/classroom.py, app/rooms.py): a lecturer in presentation mode
at 1400×900 and a student on a phone-sized page (390×844), each in its own browser context.

On one server: the student's page follows a page change, a lesson step, a layer change on
Feature maps and a channel click there; a typed question is answered once and revealed on both
screens; the student's own clicks never move the lecturer; a wrong code gets a sentence; and every
page, as a follower sees it at 390×844, has no sideways scroll. Then the same lesson on two
replicas behind nginx with Redis (deploy/run-local.sh), the lecturer pinned to one replica and the
student to the other. Server logs and screenshots go to ``tests/artifacts/browser/classroom*``.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from streamlit_browser import ROOT, require_chromium, running_app, settle
from test_deploy import free_ports

sys.path.insert(0, str(ROOT / "deploy"))
import nginx_conf  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()

SHOTS = ROOT / "tests" / "artifacts" / "browser"
COMPONENT = 'iframe[title="streamlit_image_coordinates.streamlit_image_coordinates"]'
FOLLOW_MS = 30_000  # a bounded wait, not a timing claim: bench_follow.py measures the latency
PHONE = {"width": 390, "height": 844}
# every page: its title in the navigation and its path in the URL (app/streamlit_app.py's PAGES)
PAGES = [("Predict", ""), ("Eight-step lesson", "lesson"), ("Shape quiz", "quiz"), ("Architecture", "architecture"),
         ("Feature maps", "feature_maps"), ("How was this number made?", "unit"), ("Paper lab", "lab"),
         ("Kernels", "kernels"), ("Why did it say that?", "attribution"), ("What does it look for?", "lookfor"),
         ("Live camera", "camera")]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One server for the module, offline, rooms in this process (the default)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    home = tmp_path_factory.mktemp("home")
    env = {"ALEXNET_VIZ_HOME": str(home)}
    os.environ.pop("ALEXNET_VIZ_ROOMS", None)
    with running_app(SHOTS / "classroom-server.log", env=env) as url:
        yield url


def open_page(browser, url: str, viewport: dict, replica: str | None = None):
    ctx = browser.new_context(viewport=viewport)
    if replica is not None:  # nginx routes a browser by this cookie (deploy/nginx_conf.py)
        ctx.add_cookies([{"name": nginx_conf.COOKIE, "value": replica, "url": url}])
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(url)
    settle(pg)
    return pg


def start_class(browser, url: str, replica: str | None = None):
    """The lecturer, in presentation mode, starts a class; returns the page and the room's code."""
    lead = open_page(browser, url + "/?present=1", {"width": 1400, "height": 900}, replica)
    expand = lead.get_by_test_id("stExpandSidebarButton")
    if expand.count() and expand.is_visible():
        expand.click()  # presentation mode folds the sidebar
    lead.get_by_role("button", name="Start a class").click()
    settle(lead)
    dialog = lead.get_by_role("dialog")
    dialog.wait_for()
    assert dialog.get_by_role("img", name=re.compile("QR code of the class link")).count() == 1
    text = dialog.inner_text()
    code = re.search(r"\?join=([2-9A-Z]{7})\b", text).group(1)
    assert dialog.get_by_role("heading", name=code).count() == 1, text  # large, for the back row
    lead.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    return lead, code


def join(browser, url: str, code: str, replica: str | None = None):
    stu = open_page(browser, f"{url}/?join={code}", PHONE, replica)
    stu.get_by_text("Following the lecturer").first.wait_for(timeout=FOLLOW_MS)
    return stu


def nav(lead, title: str) -> None:
    """The lecturer opens a page from the page menu (a new page, the same session): presenting,
    the menu is in the top bar, the pages that do not fit under its "more" popover."""
    top = lead.locator('[data-testid="stHeader"]')
    link = top.get_by_text(title, exact=True)
    if not (link.count() and link.first.evaluate("e => !e.closest('[inert]')")):  # beyond the bar's width
        top.locator('[data-testid="stTopNavSection"]').last.click()  # the "N more" entry
        link = lead.locator('[data-testid="stTopNavPopoverBody"]').get_by_text(title, exact=True)
    link.first.click()
    settle(lead)


def on_path(path: str):
    return re.compile(rf"//[^/]+/{re.escape(path)}(\?|$)")


def step_heading(pg, n: int):
    return pg.get_by_role("heading", name=re.compile(rf"Step {n} of 8"))


def no_exception(*pages) -> None:
    for pg in pages:
        assert pg.locator('[data-testid="stException"]').count() == 0, pg.url


def channel_in(url: str) -> str | None:
    m = re.search(r"[?&]channel=(\d+)", url)
    return m.group(1) if m else None


def lesson_and_maps(lead, stu) -> None:
    """The student follows a page change, a lesson step, a layer change and a channel click."""
    nav(lead, "Eight-step lesson")
    step_heading(lead, 1).wait_for()
    stu.wait_for_url(on_path("lesson"), timeout=FOLLOW_MS)
    step_heading(stu, 1).wait_for(timeout=FOLLOW_MS)

    lead.get_by_role("button", name="Next →").first.click()
    settle(lead)
    step_heading(lead, 2).wait_for()
    step_heading(stu, 2).wait_for(timeout=FOLLOW_MS)

    # the student's own click moves only the student's page: the room, and the lecturer, stay
    stu.get_by_role("button", name="Next →").first.click()
    settle(stu)
    step_heading(stu, 3).wait_for()
    lead.wait_for_timeout(2500)  # more than a poll: a change would have reached the lecturer by now
    assert step_heading(lead, 2).count() == 1 and step_heading(lead, 3).count() == 0
    assert stu.get_by_role("button", name="Start a class").count() == 0, "a follower is offered no lead"

    nav(lead, "Feature maps")
    stu.wait_for_url(on_path("feature_maps"), timeout=FOLLOW_MS)
    box = lead.get_by_label("Layer", exact=True)
    box.click()
    box.fill("conv2")
    lead.get_by_role("option", name="conv2").first.click()
    settle(lead)
    lead.wait_for_url(re.compile(r"layer=conv2"))
    stu.wait_for_url(re.compile(r"/feature_maps\?.*layer=conv2"), timeout=FOLLOW_MS)
    settle(stu)
    assert "conv2" in stu.get_by_label("Layer", exact=True).input_value()

    before = channel_in(lead.url)
    frame = lead.frame_locator(COMPONENT).nth(0)  # GPU 1's grid of tiles
    img = frame.locator("img#image")
    img.wait_for(state="visible")
    b = img.bounding_box()
    img.click(position={"x": 0.62 * b["width"], "y": 0.37 * b["height"]})
    settle(lead)
    lead.wait_for_function("(was) => { const m = location.search.match(/channel=(\\d+)/); "
                           "return m && m[1] !== was; }", arg=before or "")
    picked = channel_in(lead.url)
    stu.wait_for_url(re.compile(rf"[?&]channel={picked}(&|$)"), timeout=FOLLOW_MS)
    settle(stu)
    no_exception(lead, stu)


def question(lead, stu) -> None:
    """A typed question: the student answers once, the projector counts it, Reveal reaches both."""
    side = lead.locator('[data-testid="stSidebar"]')
    side.get_by_text("Ask the class").click()
    side.get_by_label("Question", exact=True).fill("Which layer halves the maps?")
    side.get_by_label("Answers, one per line").fill("conv1\npool1\nfc6")
    right = side.get_by_label("The right answer's line (0: none, an opinion)")
    right.fill("2")
    right.press("Enter")
    settle(lead)
    side.get_by_role("button", name="Ask", exact=True).click()
    settle(lead)
    side.get_by_text("0 answers").wait_for(timeout=FOLLOW_MS)

    stu.get_by_text("Which layer halves the maps?").wait_for(timeout=FOLLOW_MS)
    choices = stu.get_by_role("radiogroup").filter(has_text="pool1")  # the page has radios of its own
    choices.get_by_text("pool1", exact=True).click()
    stu.get_by_role("button", name="Answer", exact=True).click()
    stu.get_by_text("Your answer: “pool1”").wait_for(timeout=FOLLOW_MS)
    assert choices.count() == 0, "one answer per student: no second chance"
    side.get_by_text(re.compile(r"— 1 answer$")).wait_for(timeout=FOLLOW_MS)

    side.get_by_role("button", name="Reveal").click()
    side.get_by_text("Revealed: pool1").wait_for(timeout=FOLLOW_MS)
    stu.get_by_text("you got it right").wait_for(timeout=FOLLOW_MS)
    assert stu.get_by_text("The answer:").count() == 1
    side.get_by_text(re.compile(r"— 1 answer$")).wait_for()  # still one: counted once


def wrong_codes(browser, url: str, code: str, replica: str | None = None) -> None:
    wrong = "".join("A" if c != "A" else "B" for c in code)  # a well-formed code of no class
    pg = open_page(browser, f"{url}/?join={wrong}", PHONE, replica)
    pg.get_by_text(f"There is no class with the code {wrong}").wait_for()
    pg.goto(f"{url}/?join=NOPE")
    settle(pg)
    pg.get_by_text("is not a class code").wait_for()
    assert pg.get_by_text("Following the lecturer").count() == 0
    pg.context.close()


def test_a_student_follows_answers_and_cannot_lead(app, browser):
    lead, code = start_class(browser, app)
    stu = join(browser, app, code)
    try:
        lesson_and_maps(lead, stu)
        stu.screenshot(path=SHOTS / "classroom_follower_390x844.png")
        question(lead, stu)
        lead.screenshot(path=SHOTS / "classroom_lecturer_1400x900.png")
        wrong_codes(browser, app, code)
        no_exception(lead, stu)
    finally:
        lead.context.close()
        stu.context.close()


def test_every_page_as_a_follower_has_no_sideways_scroll_at_390x844(app, browser):
    lead, code = start_class(browser, app)
    stu = join(browser, app, code)
    wide = {}
    try:
        for title, path in PAGES:
            nav(lead, title)
            stu.wait_for_url(on_path(path), timeout=FOLLOW_MS)
            settle(stu)
            stu.get_by_text("Following the lecturer").first.wait_for(timeout=FOLLOW_MS)
            no_exception(stu)
            # the document, and Streamlit's own scrolling containers (the page scrolls inside them)
            width = stu.evaluate("""() => {
                const els = ['stApp', 'stAppViewContainer', 'stMain']
                    .map(id => document.querySelector(`[data-testid="${id}"]`)).filter(Boolean);
                return [Math.max(document.documentElement.scrollWidth, ...els.map(e => e.scrollWidth)),
                        Math.min(window.innerWidth, ...els.map(e => e.clientWidth || window.innerWidth)), els.length];
            }""")
            assert width[2] == 3, "Streamlit renamed its containers: the check would check nothing"
            # the picture first: on a phone the sidebar is folded away, not stacked above the page
            assert stu.get_by_test_id("stExpandSidebarButton").is_visible()
            box = stu.locator('[data-testid="stSidebar"]').bounding_box()
            assert box is None or box["x"] + box["width"] <= 1, box
            if width[0] > width[1]:
                wide[path or "predict"] = width
                stu.screenshot(path=SHOTS / f"classroom_wide_{path or 'predict'}_390x844.png")
        assert not wide, f"pages that scroll sideways at 390×844 (scrollWidth, innerWidth): {wide}"
    finally:
        lead.context.close()
        stu.context.close()


# -- two replicas behind nginx, the room in Redis ---------------------------------------------------
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    """deploy/run-local.sh with 2 replicas and its own redis-server on free loopback ports."""
    for tool, name in ((NGINX, "nginx"), (REDIS, "redis-server")):
        if not os.path.exists(tool):
            if os.environ.get("CI"):
                raise RuntimeError(f"{tool} is missing although .ci/run should have installed it")
            pytest.skip(f"{name} is missing: install Debian's {name}, as .ci/run does")
    pytest.importorskip("redis", reason="the redis client library is part of requirements.txt")
    folder = tmp_path_factory.mktemp("deploy") / "local"
    base = free_ports(4)  # two replicas, the proxy and Redis
    ports = [base, base + 1, base + 2, base + 3]
    env = {k: v for k, v in os.environ.items() if k != "ALEXNET_VIZ_ROOMS"}
    env.update(ALEXNET_VIZ_OFFLINE="1", ALEXNET_VIZ_LOCAL_DIR=str(folder), PYTHON=sys.executable, REPLICAS="2",
               APP_PORT=str(base), PROXY_PORT=str(ports[2]), REDIS_PORT=str(ports[3]),
               NGINX_BIN=NGINX)
    script = str(ROOT / "deploy" / "run-local.sh")
    try:
        start = subprocess.run([script], env=env, capture_output=True, text=True, timeout=300)
        assert start.returncode == 0, start.stdout + start.stderr
        assert f"redis://127.0.0.1:{ports[3]}/0" in start.stdout, start.stdout
        yield f"http://127.0.0.1:{ports[2]}", f"redis://127.0.0.1:{ports[3]}/0"
    finally:
        SHOTS.mkdir(parents=True, exist_ok=True)
        for log in folder.glob("*.log"):
            shutil.copy(log, SHOTS / f"classroom-replicas-{log.name}")
        subprocess.run([script, "stop"], env=env, capture_output=True, timeout=60)


def pinned(pg) -> str:
    return {c["name"]: c["value"] for c in pg.context.cookies()}[nginx_conf.COOKIE]


def test_on_two_replicas_with_redis_the_student_follows_from_the_other_replica(replicas, browser):
    url, store = replicas
    import redis

    lead, code = start_class(browser, url, replica="r1")
    stu = join(browser, url, code, replica="r2")
    try:
        assert (pinned(lead), pinned(stu)) == ("r1", "r2"), "the two must be on different replicas"
        assert redis.Redis.from_url(store).exists(f"room:{code}"), "the room lives in Redis"
        lesson_and_maps(lead, stu)
        question(lead, stu)
        assert (pinned(lead), pinned(stu)) == ("r1", "r2")
        wrong_codes(browser, url, code, replica="r2")
        no_exception(lead, stu)
    finally:
        lead.context.close()
        stu.context.close()
