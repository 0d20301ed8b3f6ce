"""What-if painting (alexnet_viz.lab: read_painting, paint_over, painted_effect): strokes from a
browser canvas composited over the crop the network sees, bounded, and run once."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import alexnet_viz as av
from alexnet_viz import lab
from alexnet_viz.images import ImageError


@pytest.fixture(scope="module")
def net() -> av.Network:
    return av.load_network("alexnet2012", "untrained", device="cpu")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """A structured photo: every pixel differs from its neighbours and from any stroke."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:300, 0:410]
    rgb = np.stack([xx * 255 // 409, yy * 255 // 299, rng.integers(40, 200, (300, 410))], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


@pytest.fixture(scope="module")
def view(net, photo) -> Image.Image:
    return net.view(photo)  # the 227×227 crop the network sees


def painting(size: tuple[int, int], box=None, colour=(255, 0, 0), alpha: int = 255,
             garbage: bool = True) -> np.ndarray:
    """An (h, w, 4) canvas: ``box`` (top, left, bottom, right) painted, the rest transparent; the
    transparent pixels' RGB is noise (``garbage``), which alpha 0 must hide."""
    w, h = size
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (h, w, 4), dtype=np.uint8) if garbage else np.zeros((h, w, 4), np.uint8)
    a[..., 3] = 0
    if box is not None:
        t, l, b, r = box
        a[t:b, l:r] = (*colour, alpha)
    return a


def png(a: np.ndarray | Image.Image) -> bytes:
    buf = io.BytesIO()
    (a if isinstance(a, Image.Image) else Image.fromarray(a)).save(buf, format="PNG")
    return buf.getvalue()


def by_hand(net, img: Image.Image) -> torch.Tensor:
    """The network's softmax on a crop already at its input size, normalised here with numpy."""
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) * net.prep.scale  # (3, 227, 227)
    x = (x - np.array(net.prep.mean, np.float32)[:, None, None]) / np.array(net.prep.std, np.float32)[:, None, None]
    with torch.no_grad():
        return torch.softmax(net(torch.from_numpy(x)[None]), dim=1)[0]


# -- compositing ------------------------------------------------------------------------------------
def test_alpha_0_keeps_the_photo_whatever_colour_the_transparent_pixels_carry(view):
    out = lab.paint_over(view, painting(view.size))
    assert out.mode == "RGB" and out.size == view.size
    assert np.array_equal(np.asarray(out), np.asarray(view))


def test_alpha_255_replaces_the_photo_with_the_stroke_colour_and_nothing_else(view):
    out = np.asarray(lab.paint_over(view, painting(view.size, (50, 60, 100, 140), (0, 114, 178))))
    assert (out[50:100, 60:140] == (0, 114, 178)).all()
    outside = np.ones(out.shape[:2], bool)
    outside[50:100, 60:140] = False
    assert np.array_equal(out[outside], np.asarray(view)[outside])


def test_partial_alpha_blends_by_alpha(view):
    out = np.asarray(lab.paint_over(view, painting(view.size, (0, 0, 227, 227), (255, 255, 255), alpha=64)))
    photo = np.asarray(view, dtype=np.float64)
    want = np.rint(photo + 64 / 255 * (255 - photo))
    assert np.array_equal(out, want.astype(np.uint8))
    assert not np.array_equal(out, np.asarray(view)) and (out >= np.asarray(view)).all()


def test_a_painting_drawn_at_twice_the_size_is_resized_onto_the_crop(view):
    big = painting((454, 454), (100, 120, 200, 280), (255, 0, 0))  # the crop's (50, 60)–(100, 140), at 2×
    out = np.asarray(lab.paint_over(view, big))
    assert out.shape == (227, 227, 3)
    assert (out[51:99, 61:139] == (255, 0, 0)).all()
    assert np.array_equal(out[:48], np.asarray(view)[:48]), "the transparent noise around it stays hidden"
    assert np.array_equal(out[:, :58], np.asarray(view)[:, :58])


def test_a_pil_painting_is_converted_and_an_opaque_one_replaces_everything(view):
    out = lab.paint_over(view, Image.new("RGB", view.size, (7, 8, 9)))
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
        lab.paint_over(view, bad)


# -- what the canvas sends ------------------------------------------------------------------------
def test_read_painting_gives_the_rgba_pixels_of_the_png():
    a = painting((454, 454), (10, 10, 40, 90), (1, 2, 3), alpha=200)
    got = lab.read_painting(png(a))
    assert got.shape == (454, 454, 4) and got.dtype == np.uint8
    assert np.array_equal(got, a)
    grey = lab.read_painting(png(Image.new("L", (20, 20), 90)))  # any mode comes back RGBA
    assert grey.shape == (20, 20, 4) and (grey == (90, 90, 90, 255)).all()


@pytest.mark.parametrize("data,words", [
    (None, r"sent NoneType, not a picture"),
    ("data:image/png;base64,", r"sent str, not a picture"),
    (b"GIF89a" + bytes(100), r"not a PNG picture"),
    (b"\x89PNG\r\n\x1a\n" + bytes(40), r"could not be read"),
    (b"\x89PNG\r\n\x1a\n" + bytes(lab.PAINT_MAX_BYTES), r"read only up to 4 MB"),
])
def test_whatever_else_the_canvas_sends_is_a_sentence(data, words):
    with pytest.raises(ImageError, match=words):
        lab.read_painting(data)


def test_a_png_too_large_to_be_a_canvas_is_refused_before_its_pixels_are_decoded(monkeypatch):
    wide = png(Image.new("RGBA", (lab.PAINT_MAX_SIDE + 1, 2)))
    loads = []
    monkeypatch.setattr(Image.Image, "load", lambda self: loads.append(self) or None)
    with pytest.raises(ImageError, match=r"4097×2 picture; at most 4096 pixels a side"):
        lab.read_painting(wide)
    assert not loads


def test_a_truncated_png_is_a_sentence():
    whole = png(painting((300, 300), (0, 0, 300, 300), garbage=True))
    with pytest.raises(ImageError, match=r"could not be read"):
        lab.read_painting(whole[: len(whole) // 2])


# -- the painted crop through the network ---------------------------------------------------------
def test_an_unpainted_crop_changes_nothing_and_before_is_the_photos_own_prediction(net, photo, view):
    e = lab.painted_effect(net, view, lab.paint_over(view, painting(view.size)))
    assert np.array_equal(e.before, e.after)
    assert set(e.layer_change.values()) == {0.0}
    with torch.no_grad():
        own = torch.softmax(net(net.preprocess(photo)), dim=1)[0]  # what every other page shows
    assert np.allclose(e.before, own.numpy(), atol=1e-6)


def test_the_painted_crop_is_run_as_it_is_and_its_change_is_reported(net, view):
    painted = lab.paint_over(view, painting(view.size, (40, 40, 180, 180), (0, 0, 0)))
    e = lab.painted_effect(net, view, painted)
    assert np.allclose(e.after, by_hand(net, painted).numpy(), atol=1e-6)
    assert np.allclose(e.before, by_hand(net, view).numpy(), atol=1e-6)
    assert not np.allclose(e.after, e.before)
    assert e.layer_change["conv1"] > 0 and e.layer_change["fc8"] > 0
    c, before_map, after_map = e.maps["conv1"]
    assert before_map.shape == (55, 55) and not np.array_equal(before_map, after_map)
    cls = e.top_class
    assert e.change(cls) == pytest.approx(float(e.after[cls] - e.before[cls]))


def test_given_the_unpainted_activations_only_the_painted_crop_runs(net, view, monkeypatch):
    painted = lab.paint_over(view, painting(view.size, (100, 0, 227, 227), (255, 255, 255)))
    both = lab.painted_effect(net, view, painted)
    acts = net.activations(lab.crop_tensor(net, [view]))
    kept = {k: v[0].numpy() for k, v in acts.items()}  # as the app keeps them: batch dropped, numpy
    batches = []
    real = net.activations
    monkeypatch.setattr(net, "activations", lambda x, *a, **k: batches.append(x.shape[0]) or real(x, *a, **k))
    for before in (acts, kept):
        e = lab.painted_effect(net, view, painted, before=before)
        assert np.allclose(e.after, both.after, atol=1e-7) and np.allclose(e.before, both.before, atol=1e-7)
        assert e.layer_change == pytest.approx(both.layer_change, rel=1e-4)
    assert batches == [1, 1], "one image per call, the painted one"


def test_unpainted_activations_of_another_network_or_size_are_a_sentence(net, view):
    painted = lab.paint_over(view, painting(view.size))
    acts = {k: v[0].numpy() for k, v in net.activations(lab.crop_tensor(net, [view])).items()}
    with pytest.raises(ValueError, match=r"not alexnet2012's for a 227×227 crop \(fc8 is None"):
        lab.painted_effect(net, view, painted, before={k: v for k, v in acts.items() if k != "fc8"})
    small = av.load_network("alexnet2012", "untrained", device="cpu").activations(torch.zeros(1, 3, 224, 224))
    with pytest.raises(ValueError, match=r"conv1 is \(1, 96, 54, 54\), not \(1, 96, 55, 55\)"):
        lab.painted_effect(net, view, painted, before=small)


def test_a_crop_of_another_size_is_a_sentence(net, view):
    with pytest.raises(ValueError, match=r"alexnet2012 reads 227×227 crops; the painted crop is 454×454"):
        lab.painted_effect(net, view, view.resize((454, 454)))


def test_the_one_tower_network_reads_its_224_crop():
    tv = av.load_network("torchvision", "untrained", device="cpu")
    crop = tv.view(Image.new("RGB", (300, 260), (30, 120, 200)))
    assert crop.size == (224, 224)
    painted = lab.paint_over(crop, painting((448, 448), (0, 0, 224, 224), (250, 250, 0)))
    e = lab.painted_effect(tv, crop, painted)
    assert np.allclose(e.after, by_hand(tv, painted).numpy(), atol=1e-6)
    assert not np.allclose(e.after, e.before)
