"""Colours: one table per colour map, dark to bright; scaling to 8 bits."""
from __future__ import annotations

import numpy as np
import pytest

from alexnet_viz.render import colour as C


def test_to_uint8_maps_min_and_max_and_survives_constant_input():
    a = C.to_uint8(np.array([[-1.0, 0.0, 1.0]]))
    assert a.tolist() == [[0, 128, 255]]
    assert C.to_uint8(np.ones((2, 2))).max() == 0


def test_viridis_is_dark_to_bright_and_monotone_in_luminance():
    lut = C.lut("viridis").astype(float)
    lum = lut @ np.array([0.2126, 0.7152, 0.0722])
    assert (np.diff(lum) > -0.5).all()  # readable in greyscale too
    assert lum[-1] - lum[0] > 150


def test_every_sequential_map_rises_steadily_in_brightness():
    for cmap in ("viridis", "cividis"):  # brightness rises steadily: readable without hue
        lut = C.colourise(np.arange(256).astype(np.uint8), cmap).astype(float)
        luma = lut @ [0.2126, 0.7152, 0.0722]
        assert np.all(np.diff(luma) > -0.5)


def test_colourise_scales_floats_and_indexes_with_bytes():
    assert C.colourise(np.array([0.0, 1.0])).tolist() == [[0x44, 0x01, 0x54], [0xFD, 0xE7, 0x25]]
    assert C.colourise(np.array([-2.0, 2.0]), lo=-2, hi=2).tolist() == C.lut("viridis")[[0, 255]].tolist()
    assert C.colourise(np.array([128], np.uint8)).tolist() == [C.lut("viridis")[128].tolist()]
    with pytest.raises(ValueError, match="viridis, cividis, blue-white-red"):
        C.lut("jet")


def test_signs_and_towers_never_share_a_colour():
    """One meaning per colour: the sign pair is far from every tower colour (and from each other),
    and the signed map runs from the negative colour through white to the positive one."""
    def lab(colour: str) -> np.ndarray:  # sRGB -> CIELAB (D65), the textbook formulas
        c = np.array(C.hex_rgb(colour)) / 255
        c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
        xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
        f = np.cbrt(xyz / [0.95047, 1.0, 1.08883])
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])

    def delta_e(a: str, b: str) -> float:  # CIE76: about 2.3 is just noticeable; 25+ reads as another colour
        return float(np.linalg.norm(lab(a) - lab(b)))

    for sign in C.SIGN_COLOURS.values():
        for tower in C.TOWER_COLOURS.values():
            assert delta_e(sign, tower) > 30, (sign, tower)
    assert delta_e(C.SIGN_COLOURS["negative"], C.SIGN_COLOURS["positive"]) > 30
    assert delta_e("#1b7837", "#009E73") < 30, "the test can fail: two greens are too close"
    table = C.lut(C.SIGNED_MAP).astype(int)
    assert table[128].min() > 230, "white at 0"
    near = lambda row, colour: np.abs(row - C.hex_rgb(colour)).max() < 60  # noqa: E731
    assert near(table[20], C.SIGN_COLOURS["negative"]) and near(table[235], C.SIGN_COLOURS["positive"])
    assert C.sign_colour(-0.1) == C.SIGN_COLOURS["negative"] and C.sign_colour(0.0) == C.SIGN_COLOURS["positive"]
