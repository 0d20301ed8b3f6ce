"""Make the README's pictures from the app itself: start it offline, drive headless Chromium
through the main pages at a projector's 1280×720, and write small PNGs into docs/images/.

    python docs/screenshots.py                      # every page below, into docs/images/
    python docs/screenshots.py --only predict --out /tmp/shots

Each page is opened by a link (the app keeps every view in its address), in presentation mode,
with Chelsea the cat; the script waits for the page's main picture before it takes the shot.
The network is the untrained one (offline), so the numbers on the pictures are not a trained
network's: the pictures show what each page looks like.
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the browser tests' server and Chromium helpers

from streamlit_browser import ARGS, CHROMIUM, running_app, settle  # noqa: E402

SIZE = (1280, 720)  # a projector's picture
OUT = ROOT / "docs" / "images"
MAX_BYTES = 400_000  # "a few hundred KB at most"


@dataclass(frozen=True)
class Shot:
    name: str     # the PNG's name, without .png
    link: str     # the page's address, with its view
    ready: str    # a CSS selector, text:..., or frame:SELECTOR (inside the page's first component) that
                  # shows once the main picture is drawn
    caption: str  # the README's alt text
    scroll: str | None = None  # text to scroll to the top of the window first, or None


SHOTS = [
    Shot("predict", "/?sample=chelsea&present=1", '[data-testid="stMain"] [data-testid="stImage"] img',
         "Predict: the crop the network sees and its top-5"),
    Shot("feature_maps", "/feature_maps?sample=chelsea&layer=relu1&present=1",
         'frame:img',
         "Feature maps: every channel of relu1, one block per GPU tower"),
    Shot("unit", "/unit?sample=chelsea&layer=conv2&channel=130&row=10&col=12&present=1",
         '[data-testid="stMain"] [data-testid="stMetric"]',
         "How was this number made?: one conv2 unit's value and its arithmetic"),
    Shot("attribution", "/attribution?sample=chelsea&method=grad_cam&present=1", "text:Grad-CAM for “",
         "Why did it say that?: a Grad-CAM map on the crop", scroll="View"),
    Shot("lab", "/lab?sample=chelsea&experiment=towers&present=1", '[data-testid="stMain"] [data-testid="stMetric"]',
         "Paper lab: one GPU tower knocked out, top-5 before and after", scroll="Knock out"),
]


def small_png(png: bytes) -> bytes:
    """The screenshot as a palette PNG (256 colours), optimised: a page's flat colours survive."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True)
    return out.getvalue()


def take(shots: list[Shot], out: Path, log: Path) -> list[Path]:
    """Start the app, open each shot's link in headless Chromium, write ``out/NAME.png``."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as home, \
            running_app(log, env={"ALEXNET_VIZ_HOME": home}) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for shot in shots:
            page = browser.new_context(viewport={"width": SIZE[0], "height": SIZE[1]}).new_page()
            page.set_default_timeout(120_000)
            page.goto(url + shot.link)
            settle(page)
            if shot.ready.startswith("text:"):
                ready = page.get_by_text(shot.ready[5:]).first
            elif shot.ready.startswith("frame:"):  # a component's picture, in its iframe
                ready = page.frame_locator('[data-testid="stMain"] iframe').first.locator(shot.ready[6:]).first
            else:
                ready = page.locator(shot.ready).first
            ready.wait_for(state="visible")
            page.evaluate("document.fonts.ready")
            if shot.scroll:
                page.get_by_text(shot.scroll, exact=True).first.evaluate(
                    "e => e.scrollIntoView({block: 'start'})")
                page.mouse.move(SIZE[0] // 2, SIZE[1] // 2)
                page.mouse.wheel(0, -80)  # back down by the page's header, which covers the top
                page.wait_for_timeout(300)
            page.mouse.move(0, 0)  # no hover tooltips in the picture
            page.wait_for_timeout(500)
            path = out / f"{shot.name}.png"
            path.write_bytes(small_png(page.screenshot()))
            written.append(path)
            page.context.close()
        browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT, help="the folder for the PNGs (default docs/images/)")
    ap.add_argument("--only", action="append", choices=[s.name for s in SHOTS],
                    help="take only this page (repeatable)")
    args = ap.parse_args(argv)
    shots = [s for s in SHOTS if not args.only or s.name in args.only]
    for path in take(shots, args.out, args.out / "screenshots-server.log"):
        size = path.stat().st_size
        print(f"{path} {size // 1024} KB" + ("  (over the size budget)" if size > MAX_BYTES else ""))
    (args.out / "screenshots-server.log").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
