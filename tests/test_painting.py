"""Reading a canvas's strokes and laying them over the crop (alexnet_viz.painting): bounded before
any pixel is decoded, composited by alpha, and every mistake a sentence."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from alexnet_viz.images import ImageError
from alexnet_viz.painting import PAINT_MAX_BYTES, PAINT_MAX_SIDE, paint_over, read_painting
from helpers import painting, structured_photo


@pytest.fixture(scope="module")
def view(alex) -> Image.Image:
    return alex.view(structured_photo())  # the 227×227 crop the network sees


def png(a: np.ndarray | Image.Image) -> bytes:
    buf = io.BytesIO()
    (a if isinstance(a, Image.Image) else Image.fromarray(a)).save(buf, format="PNG")
    return buf.getvalue()


# -- compositing ------------------------------------------------------------------------------------
def test_alpha_0_keeps_the_photo_whatever_colour_the_transparent_pixels_carry(view):
    out = paint_over(view, painting(view.size))
    assert out.mode == "RGB" and out.size == view.size
    assert np.array_equal(np.asarray(out), np.asarray(view))


def test_alpha_255_replaces_the_photo_with_the_stroke_colour_and_nothing_else(view):
    out = np.asarray(paint_over(view, painting(view.size, (50, 60, 100, 140), (0, 114, 178))))
    assert (out[50:100, 60:140] == (0, 114, 178)).all()
    outside = np.ones(out.shape[:2], bool)
    outside[50:100, 60:140] = False
    assert np.array_equal(out[outside], np.asarray(view)[outside])


def test_partial_alpha_blends_by_alpha(view):
    out = np.asarray(paint_over(view, painting(view.size, (0, 0, 227, 227), (255, 255, 255), alpha=64)))
    photo = np.asarray(view, dtype=np.float64)
    want = np.rint(photo + 64 / 255 * (255 - photo))
    assert np.array_equal(out, want.astype(np.uint8))
    assert not np.array_equal(out, np.asarray(view)) and (out >= np.asarray(view)).all()


def test_a_painting_drawn_at_twice_the_size_is_resized_onto_the_crop(view):
    big = painting((454, 454), (100, 120, 200, 280), (255, 0, 0))  # the crop's (50, 60)–(100, 140), at 2×
    out = np.asarray(paint_over(view, big))
    assert out.shape == (227, 227, 3)
    assert (out[51:99, 61:139] == (255, 0, 0)).all()
    assert np.array_equal(out[:48], np.asarray(view)[:48]), "the transparent noise around it stays hidden"
    assert np.array_equal(out[:, :58], np.asarray(view)[:, :58])


def test_a_pil_painting_is_converted_and_an_opaque_one_replaces_everything(view):
    out = paint_over(view, Image.new("RGB", view.size, (7, 8, 9)))
    assert (np.asarray(out) == (7, 8, 9)).all()


@pytest.mark.parametrize("bad,words", [
    (np.zeros((227, 300, 4), np.uint8), r"is 300×227 but the crop is 227×227.*crop's shape"),
    (np.zeros((5000, 5000, 4), np.uint8), r"at most 4096 pixels a side"),
    (np.zeros((227, 227, 3), np.uint8), r"\(height, width, 4\) array of bytes \(RGBA\).*shaped \(227, 227, 3\)"),
    (np.zeros((227, 227, 4), np.float32), r"this one is float32"),
    (np.zeros((227, 227), np.uint8), r"shaped \(227, 227\)"),
])
def test_a_painting_of_another_shape_or_kind_is_refused_with_a_sentence(view, bad, words):
    with pytest.raises(ImageError, match=words):
        paint_over(view, bad)


# -- what the canvas sends ------------------------------------------------------------------------
def test_read_painting_gives_the_rgba_pixels_of_the_png():
    a = painting((454, 454), (10, 10, 40, 90), (1, 2, 3), alpha=200)
    got = read_painting(png(a))
    assert got.shape == (454, 454, 4) and got.dtype == np.uint8
    assert np.array_equal(got, a)
    grey = read_painting(png(Image.new("L", (20, 20), 90)))  # any mode comes back RGBA
    assert grey.shape == (20, 20, 4) and (grey == (90, 90, 90, 255)).all()


@pytest.mark.parametrize("data,words", [
    (None, r"sent NoneType, not a picture"),
    ("data:image/png;base64,", r"sent str, not a picture"),
    (b"GIF89a" + bytes(100), r"not a PNG picture"),
    (b"\x89PNG\r\n\x1a\n" + bytes(40), r"could not be read"),
    (b"\x89PNG\r\n\x1a\n" + bytes(PAINT_MAX_BYTES), r"read only up to 4 MB"),
])
def test_whatever_else_the_canvas_sends_is_a_sentence(data, words):
    with pytest.raises(ImageError, match=words):
        read_painting(data)


def test_a_png_too_large_to_be_a_canvas_is_refused_before_its_pixels_are_decoded(monkeypatch):
    wide = png(Image.new("RGBA", (PAINT_MAX_SIDE + 1, 2)))
    loads = []
    monkeypatch.setattr(Image.Image, "load", lambda self: loads.append(self) or None)
    with pytest.raises(ImageError, match=r"4097×2 picture; at most 4096 pixels a side"):
        read_painting(wide)
    assert not loads


def test_a_truncated_png_is_a_sentence():
    whole = png(painting((300, 300), (0, 0, 300, 300), garbage=True))
    with pytest.raises(ImageError, match=r"could not be read"):
        read_painting(whole[: len(whole) // 2])
