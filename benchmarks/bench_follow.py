"""A live class on one server: one lecturer and N following students, and what following costs.

The lecturer (presentation mode) starts a class and goes to the lesson; N students open the join
link, each in its own browser context of one headless Chromium (Debian's, via Playwright). Then:

* idle: nobody clicks for ``--idle`` seconds; the server's CPU-seconds over that time (its own
  ``/proc`` counters, as bench_load.py reads them), i.e. what the followers' polling costs;
* changes: the lecturer presses "Next" ``--changes`` times; for each change, the time until every
  follower's page shows the new step (p50 / p95 over all followers and changes), failures, and
  the server's CPU-seconds for those changes.

    python benchmarks/bench_follow.py                 # starts a server itself, 30 followers
    python benchmarks/bench_follow.py --followers 10 --idle 30 --changes 5

Numbers, never pass/fail; every wait is bounded. Loopback only.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_load import cpu_seconds, listening_pids, machine, percentile, process_tree  # noqa: E402
from streamlit_browser import ARGS, CHROMIUM, running_app  # noqa: E402

MAX_FOLLOWERS = 40
WAIT_S = 30.0


def step_shown(pg) -> int | None:
    heading = pg.locator('[data-testid="stMain"] h2').filter(has_text=re.compile(r"Step \d of 8"))
    text = heading.first.text_content(timeout=2000) if heading.count() else ""
    m = re.search(r"Step (\d) of 8", text or "")
    return int(m.group(1)) if m else None


def run(url: str, followers: int, idle_s: float, changes: int, pids: list[int]) -> str:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        lead = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
        lead.set_default_timeout(60_000)
        lead.goto(f"{url}/lesson?present=1")
        lead.get_by_role("heading", name="From pixels to a label in eight steps").wait_for()
        expand = lead.get_by_test_id("stExpandSidebarButton")
        if expand.count() and expand.is_visible():
            expand.click()  # presentation mode folds the sidebar
        lead.get_by_role("button", name="Start a class").click()
        lead.get_by_text(re.compile(r"Class [2-9A-Z]{7}")).first.wait_for()
        code = re.search(r"Class ([2-9A-Z]{7})", lead.get_by_text(re.compile(r"Class [2-9A-Z]{7}")).first.inner_text()).group(1)
        if lead.get_by_role("dialog").count():
            lead.keyboard.press("Escape")
        pages = []
        for _ in range(followers):
            pg = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
            pg.set_default_timeout(60_000)
            pg.goto(f"{url}/?join={code}")
            pages.append(pg)
        for pg in pages:
            pg.get_by_text("Following the lecturer").first.wait_for()
        time.sleep(5)  # every page settled
        tree = process_tree(pids)
        before = cpu_seconds(tree)
        time.sleep(idle_s)
        idle_cpu = cpu_seconds(process_tree(pids)) - before

        lags, failures = [], 0
        before = cpu_seconds(process_tree(pids))
        for _ in range(changes):
            now = step_shown(lead) or 1
            target = now + 1 if now < 8 else now - 1
            lead.get_by_role("button", name="Next →" if target > now else "← Back").first.click()
            t0 = time.monotonic()
            waiting = set(range(len(pages)))
            while waiting and time.monotonic() - t0 < WAIT_S:
                for i in list(waiting):
                    try:
                        if step_shown(pages[i]) == target:
                            lags.append(time.monotonic() - t0)
                            waiting.discard(i)
                    except Exception:  # noqa: BLE001 - a page mid-redraw: look again
                        pass
                time.sleep(0.05)
            failures += len(waiting)
            time.sleep(2)
        change_cpu = cpu_seconds(process_tree(pids)) - before
        browser.close()
    lines = [f"bench_follow on {machine()}: 1 lecturer, {followers} followers",
             f"idle {idle_s:.0f} s: server {idle_cpu:.2f} CPU-s in all ({idle_cpu / max(followers, 1):.3f} per follower)",
             f"{changes} view changes: follow latency p50 {statistics.median(lags) if lags else float('nan'):.2f} s, "
             f"p95 {percentile(lags, 95) if lags else float('nan'):.2f} s over {len(lags)} follows; "
             f"{failures} not followed within {WAIT_S:.0f} s; server {change_cpu:.2f} CPU-s "
             "(the sampling of the followers' pages adds a little lag of its own)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--followers", type=int, default=30)
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--changes", type=int, default=10)
    args = ap.parse_args(argv)
    if not 1 <= args.followers <= MAX_FOLLOWERS or args.changes < 1 or not 1 <= args.idle <= 600:
        ap.error(f"--followers 1..{MAX_FOLLOWERS}, --changes ≥ 1, --idle 1..600 s")
    with tempfile.TemporaryDirectory() as tmp, running_app(Path(tmp) / "server.log") as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        print(run(url, args.followers, args.idle, args.changes, listening_pids(port)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
