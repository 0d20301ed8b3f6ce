"""What-if painting through the network (alexnet_viz.lab.painted_effect): the painted crop run once,
as it is, beside the photo's own. Reading and compositing the strokes: tests/test_painting.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import alexnet_viz as av
from alexnet_viz import lab
from alexnet_viz.painting import paint_over
from helpers import painting, structured_photo


@pytest.fixture(scope="module")
def net() -> av.Network:
    return av.load_network("alexnet2012", "untrained", device="cpu")


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return structured_photo()


@pytest.fixture(scope="module")
def view(net, photo) -> Image.Image:
    return net.view(photo)  # the 227×227 crop the network sees


def by_hand(net, img: Image.Image) -> torch.Tensor:
    """The network's softmax on a crop already at its input size, normalised here with numpy."""
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) * net.prep.scale  # (3, 227, 227)
    x = (x - np.array(net.prep.mean, np.float32)[:, None, None]) / np.array(net.prep.std, np.float32)[:, None, None]
    with torch.no_grad():
        return torch.softmax(net(torch.from_numpy(x)[None]), dim=1)[0]


# -- the painted crop through the network ---------------------------------------------------------
def test_an_unpainted_crop_changes_nothing_and_before_is_the_photos_own_prediction(net, photo, view):
    e = lab.painted_effect(net, view, paint_over(view, painting(view.size)))
    assert np.array_equal(e.before, e.after)
    assert set(e.layer_change.values()) == {0.0}
    with torch.no_grad():
        own = torch.softmax(net(net.preprocess(photo)), dim=1)[0]  # what every other page shows
    assert np.allclose(e.before, own.numpy(), atol=1e-6)


def test_the_painted_crop_is_run_as_it_is_and_its_change_is_reported(net, view):
    painted = paint_over(view, painting(view.size, (40, 40, 180, 180), (0, 0, 0)))
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
    painted = paint_over(view, painting(view.size, (100, 0, 227, 227), (255, 255, 255)))
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
    painted = paint_over(view, painting(view.size))
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
    painted = paint_over(crop, painting((448, 448), (0, 0, 224, 224), (250, 250, 0)))
    e = lab.painted_effect(tv, crop, painted)
    assert np.allclose(e.after, by_hand(tv, painted).numpy(), atol=1e-6)
    assert not np.allclose(e.after, e.before)
