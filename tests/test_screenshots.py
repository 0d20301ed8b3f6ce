"""The README's pictures are made by code (docs/screenshots.py), so they cannot rot silently: run
the script for one page into a temporary folder and check it wrote a real picture of that page at
the projector's size, small enough for a README, and not a blank or an error page."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from streamlit_browser import ROOT, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]
require_chromium()

sys.path.insert(0, str(ROOT / "docs"))
import screenshots  # noqa: E402


def test_the_script_writes_a_real_picture_of_a_page(tmp_path):
    from PIL import Image

    assert screenshots.main(["--only", "feature_maps", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feature_maps.png"], "one PNG, and no log left behind"
    path = tmp_path / "feature_maps.png"
    img = Image.open(path)
    assert img.format == "PNG" and img.size == screenshots.SIZE
    assert path.stat().st_size <= screenshots.MAX_BYTES
    rgb = np.asarray(img.convert("RGB")).astype(int)
    (ROOT / "tests" / "artifacts").mkdir(exist_ok=True)
    img.save(ROOT / "tests" / "artifacts" / "screenshot_feature_maps.png")  # to look at when this fails
    # not blank: many colours, and a good part of the picture is not the page's white background
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 50
    assert (rgb.sum(axis=2) < 600).mean() > 0.15
    # the feature maps are viridis tiles: many pixels that are dark purple-blue (R and G low, B higher)
    viridis_dark = (rgb[..., 0] < 90) & (rgb[..., 1] < 90) & (rgb[..., 2] > rgb[..., 1])
    assert viridis_dark.mean() > 0.05, "no feature-map tiles in the picture"


def test_every_readme_picture_is_one_the_script_makes():
    """The README shows the script's pictures, and only those; each is committed and small."""
    readme = (ROOT / "README.md").read_text()
    names = {s.name for s in screenshots.SHOTS}
    shown = {n for n in names if f"docs/images/{n}.png" in readme}
    assert len(shown) >= 4, f"the README shows {sorted(shown)} of the script's pictures"
    for n in names:
        p = ROOT / "docs" / "images" / f"{n}.png"
        assert p.exists() and p.stat().st_size <= screenshots.MAX_BYTES, p
