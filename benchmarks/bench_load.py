"""A class in miniature: N students' walkthroughs played at once against a server, and what they
cost the SERVER.

Each session is its own browser context in one headless Chromium (Debian's, via Playwright):
open → upload a generated photo (the Predict page runs on it) → Feature maps → two layer changes
→ "Why did it say that?" (saliency) → Grad-CAM. It reports, separately:

* the server's CPU-seconds per session, from the server processes' own counters
  (``/proc/<pid>/stat`` utime + stime of each server process and its children, before and after,
  divided by the sessions), so the browsers' cost on the same machine does not blur it;
* p50 / p95 wall time per action (until the page has settled: the script run has finished);
* failures (an exception box, a timeout) and the server's peak RSS (``VmHWM``).

    python benchmarks/bench_load.py                      # starts a server itself, 5 sessions
    python benchmarks/bench_load.py --url http://127.0.0.1:8501 --sessions 3
    python benchmarks/bench_load.py --url http://127.0.0.1:8600 --pid 123 --pid 124   # through a proxy

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
ACTIONS = ["open", "upload_predict", "feature_maps", "layer_1", "layer_2", "saliency", "grad_cam"]
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


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{model}, {os.cpu_count()} cores (the browsers run on the same cores)"


# -- one student --------------------------------------------------------------------------------
@dataclass
class Session:
    index: int
    times: dict[str, float] = field(default_factory=dict)
    failure: str | None = None


def photo(path: Path, seed: int) -> Path:
    """A 400×300 photo of its own for each session, so no session gets another's cached results."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:300, 0:400]
    img = np.stack([xx / 400 * 255, yy / 300 * 255, np.full_like(xx, 40.0 * (seed % 6))], -1)
    img = img + rng.normal(0, 15, (300, 400, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


async def settled(pg) -> None:
    """Until the script run an action started has finished (Streamlit marks it on the app element).

    Only as good as its guess that the run begins within 1.5 s: on a loaded machine it may begin
    later (an upload first goes over HTTP), so an action whose run matters names what the run
    draws in ``walkthrough``'s ``drawn``."""
    try:  # the run begins shortly after the action; a cheap one may be over before we look
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
            "grad_cam": main.get_by_text("Grad-CAM for “").first}


async def action_done(pg, drawn=None) -> None:
    """Until an action's run has finished and drawn ``drawn`` (a locator, if any)."""
    await settled(pg)
    if drawn is not None:
        await drawn.first.wait_for(state="visible")
        await finished(pg)  # the run that drew it may still be going on


async def choose(pg, label: str, option: str) -> None:
    box = pg.get_by_label(label, exact=True)
    await box.click()
    await box.fill(option)
    await pg.get_by_role("option", name=option, exact=True).first.click()


async def walkthrough(browser, url: str, s: Session, picture: Path) -> None:
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
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
    }
    drawn = drawn_after(pg, picture)
    try:
        for name in ACTIONS:
            start = time.perf_counter()
            await steps[name]()
            await action_done(pg, drawn.get(name))
            s.times[name] = time.perf_counter() - start
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


async def play(url: str, n: int, stagger_s: float, folder: Path) -> list[Session]:
    from playwright.async_api import async_playwright

    sessions = [Session(i) for i in range(n)]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        async def one(s: Session) -> None:
            await asyncio.sleep(s.index * stagger_s)
            await walkthrough(browser, url, s, photo(folder / f"student-{s.index}.png", s.index))

        await asyncio.gather(*(one(s) for s in sessions))
        await browser.close()
    return sessions


# -- the report ---------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def report(sessions: list[Session], cpu: float, rss_mb: float, wall: float, where: str) -> str:
    n = len(sessions)
    lines = [f"machine: {machine()}", f"server: {where}",
             f"{n} sessions at once, {wall:.1f} s in all",
             f"server CPU: {cpu:.2f} s in all, {cpu / n:.2f} CPU-s per session",
             f"server peak RSS: {rss_mb:.0f} MB",
             f"{'action':<16}{'n':>3}{'p50 s':>8}{'p95 s':>8}"]
    for a in ACTIONS:
        ts = [s.times[a] for s in sessions if a in s.times]
        if ts:
            lines.append(f"{a:<16}{len(ts):>3}{statistics.median(ts):>8.2f}{percentile(ts, 95):>8.2f}")
    failed = [s for s in sessions if s.failure]
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
    args = ap.parse_args(argv)
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
        before = cpu_seconds(pids)
        start = time.perf_counter()
        sessions = asyncio.run(play(url, args.sessions, args.stagger, Path(tmp)))
        wall = time.perf_counter() - start
        cpu = cpu_seconds(pids) - before
        print(report(sessions, cpu, peak_rss_mb(pids), wall, f"{url} (pids {', '.join(map(str, pids))})"))
    return 1 if any(s.failure for s in sessions) else 0


if __name__ == "__main__":
    sys.exit(main())
