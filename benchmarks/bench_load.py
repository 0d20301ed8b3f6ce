"""A class in miniature: N students' walkthroughs played at once against a server, and what they
cost the SERVER.

Each session is its own browser context in one headless Chromium (Debian's, via Playwright):
open → upload an 800×600 JPEG of its own (the Predict page runs on it: the top-5) → Feature maps
→ two layer changes → a tile click → "How was this number made?" (the unit page) → "Why did it say
that?" (saliency) → Grad-CAM → Architecture → the lesson's first step and its Next. It reports,
separately:

* the server's CPU-seconds per session, from the server processes' own counters
  (``/proc/<pid>/stat`` utime + stime of each server process and its children, before and after,
  divided by the sessions), so the browsers' cost on the same machine does not blur it;
* p50 / p95 wall time per action (until the page has settled: the script run has finished);
* failures (an exception box, a timeout) and the server's peak RSS (``VmHWM``), its RSS and
  threads now.

With ``--sessions 1`` it also reports each action's server CPU-seconds (read around the action
alone, 0.3 s after its run). ``--sequential N`` plays N walks one after another (each tab closed
before the next opens) and reports each action's server CPU-seconds (p50 / p95 over the walks), the
server's RSS and threads after each walk, and every 15 s for ``--settle`` seconds (default 180)
after the last close: whether memory plateaus and closed sessions' threads end.

Two more modes. ``--visits N``: one session clicks Architecture N times (Predict between), and the
server's CPU-seconds are read around each Architecture click alone. ``--abuse N``: N tabs each start
the most expensive job the server's ceilings allow (integrated gradients at the most steps with no
early stop, and exact occlusion at the least window and stride, alternately, each for a class of its
own so no two share a job) while one canary session uploads a new photo and waits for its top-5,
first with the server idle and then under the abuse; it reports the canary's p50 / p95 both ways,
the server's RSS and threads, and whether the tabs showed "Waiting: place K in the queue".

    python benchmarks/bench_load.py                      # starts a server itself, 5 sessions
    python benchmarks/bench_load.py --url http://127.0.0.1:8501 --sessions 3
    python benchmarks/bench_load.py --url http://127.0.0.1:8600 --pid 123 --pid 124   # through a proxy
    python benchmarks/bench_load.py --visits 10          # Architecture's server CPU-s per visit
    python benchmarks/bench_load.py --abuse 8            # 8 tabs of costly jobs and a canary
    python benchmarks/bench_load.py --sequential 40      # 40 walks one after another: RSS, threads

Without ``--pid``, the server is the process listening on the URL's port (on this machine). Only
loopback URLs are accepted: this is a load test, not something to point at someone else's server.
Numbers, never pass/fail; every session stops by itself (bounded actions, each with a timeout).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the browser tests' server and Chromium settings
from streamlit_browser import ARGS, CHROMIUM, photo_drawn  # noqa: E402

FAILED_SHOTS = Path(os.environ["BENCH_LOAD_SHOTS"]) if os.environ.get("BENCH_LOAD_SHOTS") else None

MAX_SESSIONS = 20  # two cores are shared with the browsers: more measures the browsers, not the server
ACTION_TIMEOUT_S = 90
ACTIONS = ["open", "upload_predict", "feature_maps", "layer_1", "layer_2", "tile_click", "unit", "saliency",
           "grad_cam", "architecture", "lesson", "lesson_next"]
MAX_ABUSE = 16
CANARY_CLICKS = 20  # the canary's uploads, idle and again under abuse
COMPONENT = 'iframe[title="streamlit_image_coordinates.streamlit_image_coordinates"]'
QUEUE_WORDS = "Waiting: place"  # the attribution page's line while a job waits in the queue
EXCEPTION = '[data-testid="stException"]'


# -- the server's own counters ------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


def process_tree(pids: list[int]) -> list[int]:
    """The given processes and every live descendant."""
    seen, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        if pid not in seen and Path(f"/proc/{pid}").exists():
            seen.append(pid)
            todo += _children(pid)
    return seen


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes, their live descendants and the children they have waited for."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in process_tree(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it just ended
            continue
        total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime (fields 14-17)
    return total / tick


def peak_rss_mb(pids: list[int]) -> float:
    """The processes' peak resident memory (VmHWM), summed, in MB."""
    total = 0
    for pid in process_tree(pids):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def listening_pids(port: int) -> list[int]:
    """The processes listening on ``port`` of this machine (read from /proc, no tools needed)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(cols[9])
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if any(os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes
                   for fd in (proc / "fd").iterdir()):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def now_rss_threads(pids: list[int]) -> tuple[float, int]:
    """The processes' resident memory now (VmRSS, MB) and their threads, summed."""
    rss, threads = 0, 0
    for pid in process_tree(pids):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads += int(line.split()[1])
        except OSError:
            pass
    return rss / 1024, threads


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{model}, {os.cpu_count()} cores (the browsers run on the same cores)"


# -- one student --------------------------------------------------------------------------------
@dataclass
class Session:
    index: int
    times: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # server CPU-s per action (one session at a time)
    failure: str | None = None


def photo(path: Path, seed: int) -> Path:
    """An 800×600 photo of its own for each session (a JPEG where ``path`` ends in .jpg), so no
    session gets another's cached results: gradients, a few discs and noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:600, 0:800]
    img = np.stack([xx / 800 * 255, yy / 600 * 255, np.full_like(xx, 40.0 * (seed % 6))], -1)
    for _ in range(6):
        cx, cy, r = rng.uniform(0, 800), rng.uniform(0, 600), rng.uniform(30, 150)
        img[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] *= rng.uniform(0.3, 0.9, 3)
    img = img + rng.normal(0, 15, (600, 800, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


# Counts the script runs a page has seen begin (installed in every context of a walk), so that
# ``settled`` knows at once that an action's run began and ended, however short it was.
COUNT_RUNS = """new MutationObserver(ms => { for (const m of ms)
        if (m.target.getAttribute('data-test-script-state') === 'running') window.__runs = (window.__runs || 0) + 1; })
    .observe(document, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']});"""


async def runs(pg) -> int:
    """How many script runs the page has seen begin (0 without ``COUNT_RUNS``)."""
    return await pg.evaluate("window.__runs || 0")


async def settled(pg, runs_before: int | None = None) -> None:
    """Until the script run an action started has finished (Streamlit marks it on the app element).

    With ``runs_before`` (``runs`` read before the action, in a context with ``COUNT_RUNS``), the
    run's beginning is seen however short it was. Without it, only as good as its guess that the
    run begins within 1.5 s: on a loaded machine it may begin later (an upload first goes over
    HTTP), so an action whose run matters names what the run draws in ``walkthrough``'s ``drawn``."""
    try:  # the run begins shortly after the action; a cheap one may be over before we look
        if runs_before is not None:
            await pg.wait_for_function(f"(window.__runs || 0) > {runs_before}", timeout=1500)
        else:
            await pg.wait_for_function("""() => document.querySelector('[data-testid="stApp"]')
                ?.getAttribute('data-test-script-state') === 'running'""", timeout=1500)
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: it ran and finished already
        pass
    await finished(pg)


async def finished(pg) -> None:
    """Until no script run is going on."""
    await pg.wait_for_function("""() => {
        const app = document.querySelector('[data-testid="stApp"]');
        return app && !['running', 'initial'].includes(app.getAttribute('data-test-script-state'));
    }""", timeout=ACTION_TIMEOUT_S * 1000)


def drawn_after(pg, picture: Path) -> dict:
    """What must be on the page after an action (a locator per action that has one)."""
    main = pg.locator('[data-testid="stMain"]')
    return {"upload_predict": photo_drawn(pg, picture.name),
            # the tiles are clickable pictures (streamlit-image-coordinates), drawn in an iframe
            "feature_maps": main.locator('iframe[title="streamlit_image_coordinates.streamlit_image_coordinates"]').first,
            "saliency": main.locator('[data-testid="stImage"] img').nth(2),
            "grad_cam": main.get_by_text("Grad-CAM for “").first,
            "architecture": main.locator('[data-testid="stPlotlyChart"]').first,
            "lesson": pg.get_by_role("button", name="Next →").first}


async def action_done(pg, drawn=None, runs_before: int | None = None) -> None:
    """Until an action's run has finished and drawn ``drawn`` (a locator, if any)."""
    await settled(pg, runs_before)
    if drawn is not None:
        await drawn.first.wait_for(state="visible")
        await finished(pg)  # the run that drew it may still be going on


async def choose(pg, label: str, option: str) -> None:
    box = pg.get_by_label(label, exact=True)
    await box.click()
    await box.fill(option)
    await pg.get_by_role("option", name=option, exact=True).first.click()


async def click_tile(pg) -> None:
    """A click on the first grid of tiles, a little in from its corner (a tile: its channel opens)."""
    img = pg.frame_locator(COMPONENT).first.locator("img#image")
    await img.wait_for(state="visible")
    box = await img.bounding_box()
    await img.click(position={"x": 0.05 * box["width"], "y": 0.05 * box["height"]})


async def walkthrough(browser, url: str, s: Session, picture: Path, pids: list[int] | None = None) -> None:
    """One student's walk; with ``pids`` (only while no other session runs) the server's CPU-seconds
    of each action too, each read 0.3 s after its run so the sending is in it."""
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    await ctx.add_init_script(COUNT_RUNS)
    pg = await ctx.new_page()
    pg.set_default_timeout(ACTION_TIMEOUT_S * 1000)
    steps = {
        "open": lambda: pg.goto(url),
        "upload_predict": lambda: pg.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(picture)),
        "feature_maps": lambda: pg.get_by_role("link", name="Feature maps").first.click(),
        "layer_1": lambda: choose(pg, "Layer", "conv2"),
        "layer_2": lambda: choose(pg, "Layer", "relu5"),
        "saliency": lambda: pg.get_by_role("link", name="Why did it say that?").first.click(),
        "grad_cam": lambda: choose(pg, "Method", "Grad-CAM"),
        "tile_click": lambda: click_tile(pg),
        "unit": lambda: pg.get_by_role("link", name="How was this number made?").first.click(),
        "architecture": lambda: pg.get_by_role("link", name="Architecture").first.click(),
        "lesson": lambda: pg.get_by_role("link", name="Eight-step lesson").first.click(),
        "lesson_next": lambda: pg.get_by_role("button", name="Next →").first.click(),
    }
    drawn = drawn_after(pg, picture)
    try:
        for name in ACTIONS:
            before = cpu_seconds(pids) if pids else 0.0
            before_runs = await runs(pg) if name != "open" else None
            start = time.perf_counter()
            await steps[name]()
            await action_done(pg, drawn.get(name), before_runs)
            s.times[name] = time.perf_counter() - start
            if pids:
                await asyncio.sleep(0.3)
                s.cpu[name] = cpu_seconds(pids) - before
            if await pg.locator(EXCEPTION).count():
                s.failure = f"{name}: an exception box"
                break
    except Exception as exc:  # noqa: BLE001 - a timeout or a lost page: counted, not raised
        s.failure = f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        if FAILED_SHOTS:  # what the stuck page showed, to look at
            try:
                FAILED_SHOTS.mkdir(parents=True, exist_ok=True)
                await pg.screenshot(path=str(FAILED_SHOTS / f"session-{s.index}-{name}.png"), full_page=True)
            except Exception:  # noqa: BLE001 - a lost page has nothing to show
                pass
    finally:
        await ctx.close()


async def warm_up(url: str) -> None:
    """One visit before measuring, so the server's one-off start (imports, building the network)
    is not charged to the class."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = await browser.new_page()
        await pg.goto(url, timeout=ACTION_TIMEOUT_S * 1000)
        await settled(pg)
        await browser.close()


async def play(url: str, n: int, stagger_s: float, folder: Path, pids: list[int] | None = None) -> list[Session]:
    """``n`` walks at once; with one session and ``pids``, each action's server CPU-seconds too."""
    from playwright.async_api import async_playwright

    sessions = [Session(i) for i in range(n)]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        async def one(s: Session) -> None:
            await asyncio.sleep(s.index * stagger_s)
            await walkthrough(browser, url, s, photo(folder / f"student-{s.index}.jpg", s.index),
                              pids if n == 1 else None)

        await asyncio.gather(*(one(s) for s in sessions))
        await browser.close()
    return sessions


# -- one student after another: memory and threads --------------------------------------------
async def sequential(url: str, n: int, pids: list[int], folder: Path, settle_s: float,
                     log=print) -> tuple[list[Session], list[tuple[float, int]], list[tuple[float, float, int]]]:
    """``n`` walks one after the other, each in a new browser context with a photo of its own
    (closed before the next starts); the server's RSS and threads after each, and every 15 s for
    ``settle_s`` after the last (seconds since the last close, RSS, threads)."""
    from playwright.async_api import async_playwright

    sessions, after, settling = [], [], []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for i in range(n):
            s = Session(i)
            picture = photo(folder / f"student-{i}.jpg", 100 + i)
            await walkthrough(browser, url, s, picture, pids)
            picture.unlink()
            sessions.append(s)
            after.append(now_rss_threads(pids))
            log(f"walk {i + 1}/{n}: {sum(s.cpu.values()):.2f} CPU-s, RSS {after[-1][0]:.0f} MB, "
                f"threads {after[-1][1]}{', ' + s.failure if s.failure else ''}")
        await browser.close()
    start = time.perf_counter()
    while True:
        waited = time.perf_counter() - start
        settling.append((waited, *now_rss_threads(pids)))
        if waited >= settle_s:
            break
        await asyncio.sleep(min(15.0, settle_s - waited))
    return sessions, after, settling


def sequential_report(sessions: list[Session], idle: tuple[float, int], after: list[tuple[float, int]],
                      settling: list[tuple[float, float, int]], where: str) -> str:
    n, half = len(sessions), len(sessions) // 2
    walks = [sum(s.cpu.values()) for s in sessions if not s.failure]
    lines = [f"machine: {machine()}", f"server: {where}", f"{n} walks one after another",
             f"server CPU-s per walk: median {statistics.median(walks or [0]):.2f} "
             f"(first {walks[0] if walks else 0:.2f}, min {min(walks or [0]):.2f}, max {max(walks or [0]):.2f})",
             f"RSS: idle {idle[0]:.0f} MB, after walk 1 {after[0][0]:.0f}, after walk {half} {after[half - 1][0]:.0f}, "
             f"after walk {n} {after[-1][0]:.0f} MB (growth over the last {n - half}: "
             f"{after[-1][0] - after[half - 1][0]:+.0f} MB)" if half else f"RSS: idle {idle[0]:.0f} MB",
             f"threads: idle {idle[1]}, max after a walk {max(t for _, t in after)}, after the last "
             f"{after[-1][1]}; after the last close: "
             + ", ".join(f"{w:.0f} s {t}" for w, _, t in settling),
             f"RSS after the last close: " + ", ".join(f"{w:.0f} s {r:.0f} MB" for w, r, _ in settling),
             f"{'action':<16}{'n':>4}{'CPU-s p50':>11}{'p95':>7}{'wall p50':>10}"]
    for a in ACTIONS:
        cs = [s.cpu[a] for s in sessions if a in s.cpu]
        ts = [s.times[a] for s in sessions if a in s.times]
        if cs:
            lines.append(f"{a:<16}{len(cs):>4}{statistics.median(cs):>11.3f}{percentile(cs, 95):>7.3f}"
                         f"{statistics.median(ts):>10.2f}")
    failed = [s for s in sessions if s.failure]
    lines.append(f"failures: {len(failed)} of {n}")
    lines += [f"  walk {s.index}: {s.failure}" for s in failed]
    return "\n".join(lines)


# -- Architecture, visit by visit --------------------------------------------------------------
async def architecture_visits(url: str, n: int, pids: list[int]) -> list[float]:
    """The server's CPU-seconds for each of ``n`` clicks on Architecture in one session (Predict
    between, not counted); each reading waits 0.5 s after the run so the sending is in it too."""
    from playwright.async_api import async_playwright

    cpus = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = await browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(ACTION_TIMEOUT_S * 1000)
        await pg.goto(url)
        await settled(pg)
        chart = pg.locator('[data-testid="stMain"] [data-testid="stPlotlyChart"]')
        for _ in range(n):
            await pg.get_by_role("link", name="Predict").first.click()
            await settled(pg)
            await asyncio.sleep(0.5)
            before = cpu_seconds(pids)
            await pg.get_by_role("link", name="Architecture").first.click()
            await action_done(pg, chart)
            await asyncio.sleep(0.5)
            cpus.append(cpu_seconds(pids) - before)
        await browser.close()
    return cpus


# -- abuse: N tabs of the costliest jobs, and a canary -------------------------------------------
def costliest_links(url: str, n: int) -> list[str]:
    """Links to the attribution page asking for the most a visitor may (this machine's ceilings,
    which a server started here shares), alternately integrated gradients and occlusion; tab i
    explains class i, so no two tabs share a job."""
    sys.path.insert(0, str(ROOT / "app"))
    import work  # the app's own ceilings (nothing in it imports Streamlit)

    steps = work.ceiling("integrated_gradients", "max_steps").value()
    window = work.ceiling("occlusion", "window").value()
    stride = work.ceiling("occlusion", "stride").value()
    jobs = [f"method=integrated_gradients&integrated_gradients.steps={steps}"
            f"&integrated_gradients.max_steps={steps}&integrated_gradients.tolerance=0",
            f"method=occlusion&occlusion.window={window}&occlusion.stride={stride}&occlusion.mode=exact"]
    return [f"{url}/attribution?{jobs[i % 2]}&target=class&class={i}" for i in range(n)]


async def canary(browser, url: str, folder: Path, first_seed: int, clicks: int) -> list[float]:
    """One visitor uploading a new photo ``clicks`` times: seconds until each top-5 is drawn."""
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    await ctx.add_init_script(COUNT_RUNS)
    pg = await ctx.new_page()
    pg.set_default_timeout(ACTION_TIMEOUT_S * 1000)
    await pg.goto(url)
    await settled(pg)
    times = []
    for i in range(clicks):
        picture = photo(folder / f"canary-{first_seed + i}.jpg", first_seed + i)
        before = await runs(pg)
        start = time.perf_counter()
        await pg.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(picture))
        await action_done(pg, photo_drawn(pg, picture.name), before)
        times.append(time.perf_counter() - start)
    await ctx.close()
    return times


async def abuse(url: str, n: int, pids: list[int], folder: Path, settle_s: float) -> dict:
    from playwright.async_api import async_playwright

    out: dict = {"idle": now_rss_threads(pids)}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        out["canary_idle"] = await canary(browser, url, folder, 1000, CANARY_CLICKS)
        tabs = []
        for link in costliest_links(url, n):
            ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
            pg = await ctx.new_page()
            pg.set_default_timeout(ACTION_TIMEOUT_S * 1000)
            await pg.goto(link)
            await settled(pg)
            await pg.get_by_role("button", name="Run", exact=True).first.click()
            tabs.append((ctx, pg))
        await asyncio.sleep(3)

        async def waiting() -> int:
            return sum([await pg.get_by_text(QUEUE_WORDS).count() > 0 for _, pg in tabs])

        out["waiting_at_start"] = await waiting()
        peak = [now_rss_threads(pids)]

        async def sample() -> None:
            while True:
                rss, threads = now_rss_threads(pids)
                peak[0] = (max(peak[0][0], rss), max(peak[0][1], threads))
                await asyncio.sleep(1)

        sampler = asyncio.ensure_future(sample())
        out["canary_abuse"] = await canary(browser, url, folder, 2000, CANARY_CLICKS)
        out["waiting_after_canary"] = await waiting()
        sampler.cancel()
        out["peak"] = peak[0]
        for ctx, _ in tabs:
            await ctx.close()
        await browser.close()
    out["closed"] = now_rss_threads(pids)
    await asyncio.sleep(settle_s)
    out["settled"] = now_rss_threads(pids)
    return out


def abuse_report(n: int, r: dict, rss_hwm: float, settle_s: float, where: str) -> str:
    idle, busy = r["canary_idle"], r["canary_abuse"]
    p95i, p95b = percentile(idle, 95), percentile(busy, 95)
    return "\n".join([
        f"machine: {machine()}", f"server: {where}",
        f"{n} tabs each starting the costliest allowed job; a canary uploading {CANARY_CLICKS} photos",
        f"canary, server idle:  p50 {statistics.median(idle):.2f} s, p95 {p95i:.2f} s",
        f"canary, under abuse:  p50 {statistics.median(busy):.2f} s, p95 {p95b:.2f} s "
        f"({p95b / p95i:.2f}× the idle p95)",
        f"tabs showing '{QUEUE_WORDS} K': {r['waiting_at_start']} of {n} after the clicks, "
        f"{r['waiting_after_canary']} of {n} after the canary",
        f"server RSS / threads: idle {r['idle'][0]:.0f} MB / {r['idle'][1]}, peak {r['peak'][0]:.0f} MB / "
        f"{r['peak'][1]} (VmHWM {rss_hwm:.0f} MB), tabs just closed {r['closed'][0]:.0f} MB / {r['closed'][1]}, "
        f"{settle_s:.0f} s later {r['settled'][0]:.0f} MB / {r['settled'][1]}"])


# -- the report ---------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def report(sessions: list[Session], cpu: float, rss_mb: float, wall: float, where: str,
           now: tuple[float, int] = (0.0, 0)) -> str:
    n = len(sessions)
    lines = [f"machine: {machine()}", f"server: {where}",
             f"{n} sessions at once, {wall:.1f} s in all",
             f"server CPU: {cpu:.2f} s in all, {cpu / n:.2f} CPU-s per session",
             f"server peak RSS: {rss_mb:.0f} MB; RSS now {now[0]:.0f} MB, threads now {now[1]}",
             f"{'action':<16}{'n':>3}{'p50 s':>8}{'p95 s':>8}"]
    for a in ACTIONS:
        ts = [s.times[a] for s in sessions if a in s.times]
        if ts:
            lines.append(f"{a:<16}{len(ts):>3}{statistics.median(ts):>8.2f}{percentile(ts, 95):>8.2f}")
    failed = [s for s in sessions if s.failure]
    if n == 1 and sessions[0].cpu:
        lines.append("server CPU-s per action: " + ", ".join(f"{a} {c:.3f}" for a, c in sessions[0].cpu.items()))
    lines.append(f"failures: {len(failed)} of {n}")
    lines += [f"  session {s.index}: {s.failure}" for s in failed]
    return "\n".join(lines)


def loopback(url: str) -> bool:
    return urlparse(url).hostname in ("127.0.0.1", "localhost", "::1")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", help="a running server (loopback only); default: start one here")
    ap.add_argument("--pid", type=int, action="append", default=[],
                    help="a server process to measure (repeat for replicas); default: the URL port's listener")
    ap.add_argument("--sessions", type=int, default=5, help=f"sessions at once (1-{MAX_SESSIONS}, default 5)")
    ap.add_argument("--stagger", type=float, default=0.0, help="seconds between session starts (default 0)")
    ap.add_argument("--cold", action="store_true",
                    help="no warm-up visit: charge the server's start-up to the sessions")
    ap.add_argument("--visits", type=int, default=0,
                    help="instead of walkthroughs: one session's N clicks on Architecture, CPU-s each")
    ap.add_argument("--abuse", type=int, default=0,
                    help=f"instead of walkthroughs: N tabs (1-{MAX_ABUSE}) of the costliest jobs and a canary")
    ap.add_argument("--sequential", type=int, default=0,
                    help="instead of walkthroughs at once: N walks one after another, RSS and threads after "
                         "each and after --settle, and each action's server CPU-s")
    ap.add_argument("--settle", type=float, default=None,
                    help="--abuse / --sequential: seconds to wait after the last close before reading threads "
                         "(default 60 / 180)")
    args = ap.parse_args(argv)
    if args.abuse and not 1 <= args.abuse <= MAX_ABUSE:
        ap.error(f"--abuse must be 1-{MAX_ABUSE}")
    if not 1 <= args.sessions <= MAX_SESSIONS:
        ap.error(f"--sessions must be 1-{MAX_SESSIONS}")
    if args.url and not loopback(args.url):
        ap.error("only a server on this machine (127.0.0.1 / localhost) may be load-tested")
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        url = args.url
        if url is None:
            from streamlit_browser import running_app

            url = stack.enter_context(running_app(Path(tmp) / "server.log"))
        pids = args.pid or listening_pids(urlparse(url).port or 80)
        if not pids:
            ap.error(f"no process of this machine listens on {url}: name it with --pid")
        if not args.cold:
            asyncio.run(warm_up(url))
        where = f"{url} (pids {', '.join(map(str, pids))})"
        if args.visits:
            cpus = asyncio.run(architecture_visits(url, args.visits, pids))
            print(f"machine: {machine()}\nserver: {where}\nArchitecture, server CPU-s per visit: first "
                  f"{cpus[0]:.3f}, later median {statistics.median(cpus[1:] or cpus):.3f} "
                  f"(min {min(cpus):.3f}, max {max(cpus):.3f}, {len(cpus)} visits)")
            return 0
        if args.abuse:
            settle = 60.0 if args.settle is None else args.settle
            r = asyncio.run(abuse(url, args.abuse, pids, Path(tmp), settle))
            print(abuse_report(args.abuse, r, peak_rss_mb(pids), settle, where))
            return 0
        if args.sequential:
            idle = now_rss_threads(pids)
            sessions, after, settling = asyncio.run(sequential(
                url, args.sequential, pids, Path(tmp), 180.0 if args.settle is None else args.settle,
                log=lambda line: print(line, flush=True)))
            print(sequential_report(sessions, idle, after, settling, where))
            return 1 if any(s.failure for s in sessions) else 0
        before = cpu_seconds(pids)
        start = time.perf_counter()
        sessions = asyncio.run(play(url, args.sessions, args.stagger, Path(tmp), pids))
        wall = time.perf_counter() - start
        cpu = cpu_seconds(pids) - before
        print(report(sessions, cpu, peak_rss_mb(pids), wall, where, now_rss_threads(pids)))
    return 1 if any(s.failure for s in sessions) else 0


if __name__ == "__main__":
    sys.exit(main())
