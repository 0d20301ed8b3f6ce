"""Two devices for the two towers (alexnet_viz.towers): the placement, where the towers talk, and
outputs equal to the one-device network's. CI has no GPU, so the two placements are two CPUs;
on a machine with CUDA the same checks run on real devices."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

import alexnet_viz as av
from alexnet_viz.network import TwoDeviceNetwork
from alexnet_viz.towers import crossing_layers

GPUS = torch.cuda.device_count()
PLACEMENTS = ["cpu,cpu"] + (["cuda:0,cuda:0", "cpu,cuda:0"] if GPUS >= 1 else []) + \
             (["cuda:0,cuda:1"] if GPUS >= 2 else [])


@pytest.fixture(scope="module")
def one() -> av.Network:
    return av.load_network("alexnet2012", "untrained", device="cpu")


@pytest.fixture(scope="module")
def x(one) -> torch.Tensor:
    return torch.randn(2, 3, 227, 227, generator=torch.Generator().manual_seed(0)) * 50


@pytest.mark.parametrize("devices", PLACEMENTS)
def test_two_devices_give_the_one_device_networks_outputs_and_activations(one, x, devices):
    two = av.load_network("alexnet2012", "untrained", device=devices)
    assert isinstance(two, TwoDeviceNetwork)
    first, second = (torch.device(d) for d in devices.split(","))
    assert two.devices == (first, second) and two.device.type == first.type
    with torch.no_grad():
        want = one.activations(x)
        got = two.activations(x.to(two.device))
        logits = two(x.to(two.device))
    assert list(got) == list(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        assert torch.allclose(got[name].cpu(), want[name], rtol=1e-4, atol=1e-4), name
    assert torch.allclose(logits.cpu(), want["fc8"], rtol=1e-4, atol=1e-4)
    assert two.predict(two.preprocess(Image.new("RGB", (300, 260), (200, 90, 30))))[0][0] == \
        one.predict(one.preprocess(Image.new("RGB", (300, 260), (200, 90, 30))))[0][0]


def test_tower_two_lives_on_the_second_device_as_its_own_copy_of_the_second_half(one):
    two = av.load_network("alexnet2012", "untrained", device="cpu,cpu")
    assert sorted(two.tower2) == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]
    for name, (w, b) in two.tower2.items():
        m = one.body.get_submodule(name)
        half = m.weight.shape[0] // 2
        assert w.device == two.devices[1] and torch.equal(w, m.weight[half:]) and torch.equal(b, m.bias[half:])
        body_w = two.body.get_submodule(name).weight
        assert w.untyped_storage().data_ptr() != body_w.untyped_storage().data_ptr(), "a real copy"
        w1, _ = two.tower_weights(name, 0)
        assert w1.untyped_storage().data_ptr() == body_w.untyped_storage().data_ptr(), "tower 1: a view"
        assert w1.shape[0] == half


def test_the_towers_talk_only_where_the_paper_says_plus_caffes_lrn_edges(one):
    assert crossing_layers(one.arch) == ["norm1", "norm2", "conv3", "fc6", "fc7", "fc8"]


@pytest.mark.parametrize("model,device,words", [
    ("torchvision", "cpu,cpu", "torchvision runs as one tower"),
    ("alexnet2012", "cpu,cpu,cpu", "Name two devices"),
    ("alexnet2012", "cpu,", "Name two devices"),
    ("alexnet2012", "auto,cpu", "Name both towers' devices"),
] + ([("alexnet2012", "cuda:0,cuda:1", "CUDA")] if GPUS < 2 else []))
def test_bad_device_pairs_are_sentences(model, device, words):
    with pytest.raises(ValueError, match=words):
        av.load_network(model, "untrained", device=device)
