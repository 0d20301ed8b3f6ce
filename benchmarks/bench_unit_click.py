"""Time a click to the drawn answer in headless Chromium on a running server (untrained alexnet2012,
Chelsea the cat, offline):

    python benchmarks/bench_unit_click.py [--repeats 7] [--layer conv2]

tile:     a click on a Feature maps tile -> that channel's enlarged map and overlay drawn, run over
unit:     a click on the enlarged map -> "How was this number made?" shows the unit's value
          (value) and its computation's first picture drawn (computation: the patches and kernels
          loaded, or a plotly chart's plot drawn), and the run is over (page),
          which includes the effective receptive field (a backward pass) at the bottom.

Each repeat clicks a new channel and a new unit, so no answer is cached before its click (the
forward pass is, as in the app). Prints the machine and the median and range per step, in
seconds. The server, Chromium and this script share the machine's CPUs (and on the project's
machine, other people's work): read the numbers as an upper bound. Not a test: nothing passes or fails.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the browser helpers the browser tests use

from alexnet_viz.architecture import get_architecture  # noqa: E402
from streamlit_browser import chromium_page, running_app, settle  # noqa: E402

COMPONENT = 'iframe[title="streamlit_image_coordinates.streamlit_image_coordinates"]'
# The computation's first picture, in the value's row, has been drawn: a server-drawn picture loaded
# (the conv patches and kernels), or a plotly chart's plot drawn (the other kinds; conv before the
# picture, so older versions can be timed the same way).
DRAWN = """(label) => {
    const metric = [...document.querySelectorAll('[data-testid="stMetricLabel"]')]
        .find((e) => e.innerText.includes(label));
    const row = metric && metric.closest('[data-testid="stHorizontalBlock"]');
    if (!row) return false;
    const img = row.querySelector('[data-testid="stImage"] img');
    if (img) return img.complete && img.naturalWidth > 0;
    return !!row.querySelector('[data-testid="stPlotlyChart"] .main-svg :is(.trace, .hm image)'); }"""
IDLE = """() => { const app = document.querySelector('[data-testid="stApp"]');
                  return app && app.getAttribute('data-test-script-state') === 'notRunning'; }"""


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def picture(pg, i: int):
    img = pg.frame_locator(COMPONENT).nth(i).locator("img#image")
    img.wait_for(state="visible")
    return img


def click_at(img, fx: float, fy: float) -> float:
    """Click at fractions of the picture's size; the time just before the click."""
    box = img.bounding_box()
    t0 = time.perf_counter()
    img.click(position={"x": fx * box["width"], "y": fy * box["height"]})
    return t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--layer", default="conv2")
    args = ap.parse_args()
    layer = args.layer
    n = len(get_architecture("alexnet2012").towers(layer)[1].channels)  # GPU 2's tiles
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    times: dict[str, list[float]] = {"tile": [], "unit: value": [], "unit: computation": [], "unit: page": []}
    with tempfile.TemporaryDirectory() as home, \
            running_app(Path(home) / "server.log", env={"ALEXNET_VIZ_HOME": home}) as url, \
            chromium_page(url + f"/feature_maps?layer={layer}&channel=0") as pg:
        pg.set_viewport_size({"width": 1400, "height": 900})
        settle(pg)
        for i in range(args.repeats + 1):  # the first round warms up (imports, caches), not counted
            pg.goto(url + f"/feature_maps?layer={layer}&channel=0")
            settle(pg)
            grid = picture(pg, 1)  # GPU 2's tiles
            pg.wait_for_timeout(300)
            # A different tile each round, at its centre, along the grid's diagonal.
            before = pg.locator('[data-testid="stMain"]').inner_text()
            t0 = click_at(grid, (i % cols + 0.5) / cols, (i % rows + 0.5) / rows)
            pg.wait_for_function("""(before) => {
                const main = document.querySelector('[data-testid="stMain"]');
                const app = document.querySelector('[data-testid="stApp"]');
                return main.innerText !== before && app.getAttribute('data-test-script-state') === 'notRunning';
            }""", arg=before, timeout=60_000)
            tile = time.perf_counter() - t0
            channel = pg.url.split("channel=")[1].split("&")[0]

            unit = picture(pg, 2)
            unit.scroll_into_view_if_needed()
            pg.wait_for_timeout(300)
            r = 2 + 2 * i  # a new unit each round
            t0 = click_at(unit, (r + 0.5) / 27, (r + 0.5) / 27)
            name = f"{layer}[{channel}, {r}, {r}]"
            pg.get_by_text(f"The value of {name}").wait_for(timeout=60_000)
            value = time.perf_counter() - t0
            pg.wait_for_function(DRAWN, arg=f"The value of {name}", timeout=60_000)
            computation = time.perf_counter() - t0
            pg.wait_for_function(IDLE, timeout=120_000)
            page = time.perf_counter() - t0
            if i:
                for k, v in zip(times, (tile, value, computation, page)):
                    times[k].append(v)
    print(f"Machine: {machine()}; headless Chromium at 1400×900; server, browser and this script share it.")
    print(f"Untrained alexnet2012, Chelsea the cat, layer {layer}; median (min–max) of {args.repeats} clicks, s:")
    for k, v in times.items():
        print(f"  {k:<20} {statistics.median(v):6.3f}  ({min(v):.3f}–{max(v):.3f})")


if __name__ == "__main__":
    main()
