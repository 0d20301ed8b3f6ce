"""The layer tables against the modules built from them, torchvision's own model and the paper."""
from __future__ import annotations

import pytest
import torchvision
from torch import nn
from torchvision.models import AlexNet_Weights

from alexnet_viz.architecture import (ARCHITECTURES, CAFFE_LRN, PAPER_LRN, PREPROCESSING, TOWERS, WHOLE,
                                      Tower, get_architecture)
from alexnet_viz.network import build_body
from alexnet_viz.walkthrough import viewable_layers, walkthrough


@pytest.fixture(scope="module")
def bodies() -> dict[str, nn.Module]:
    return {m: build_body(get_architecture(m)) for m in ARCHITECTURES}


def count(module: nn.Module, buffers: bool = False) -> int:
    n = sum(p.numel() for p in module.parameters())
    if buffers:  # Keras counts BatchNorm's running mean and variance as (non-trainable) parameters
        n += sum(b.numel() for name, b in module.named_buffers() if not name.endswith("num_batches_tracked"))
    return n


@pytest.mark.parametrize("model,total", [("alexnet2012", 60_965_224), ("torchvision", 61_100_840)])
def test_built_modules_have_the_tables_parameters_layer_by_layer(bodies, model, total):
    body, arch = bodies[model], get_architecture(model)
    assert count(body) == total
    for row, layer in zip(walkthrough(model), arch.layers):
        if layer.module is not None:
            assert count(body.get_submodule(layer.module)) == row.params, layer.name


def test_keras_tutorial_counts_as_keras_does(bodies):
    body, arch = bodies["keras-tutorial"], get_architecture("keras-tutorial")
    assert count(body.get_submodule("conv2")) == 2_973_952
    for row, layer in zip(walkthrough(arch), arch.layers):
        if layer.module is not None:
            assert count(body.get_submodule(layer.module), buffers=True) == row.params, layer.name


def test_torchvision_variant_is_torchvisions_own_module(bodies):
    ours = bodies["torchvision"].state_dict()
    theirs = torchvision.models.alexnet(weights=None).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    assert count(torchvision.models.alexnet(weights=None)) == 61_100_840


@pytest.mark.parametrize("model", list(ARCHITECTURES))
def test_every_module_is_built_as_its_row_says(bodies, model):
    arch = get_architecture(model)
    for layer in arch.layers:
        if layer.module is None:
            continue
        m = bodies[model].get_submodule(layer.module)
        if layer.kind == "conv":
            assert isinstance(m, nn.Conv2d)
            assert (m.out_channels, m.kernel_size, m.stride, m.padding, m.groups) == (
                layer.out_channels, (layer.kernel,) * 2, (layer.stride,) * 2, (layer.padding,) * 2, layer.groups)
        elif layer.kind == "maxpool":
            assert isinstance(m, nn.MaxPool2d)
            assert (m.kernel_size, m.stride, m.ceil_mode) == (layer.kernel, layer.stride, layer.ceil_mode)
        elif layer.kind == "linear":
            assert isinstance(m, nn.Linear) and m.out_features == layer.out_channels
        elif layer.kind == "relu":
            assert isinstance(m, nn.ReLU) and not m.inplace  # in-place ReLU breaks attribution hooks


def test_the_two_towers_are_groups_of_two_where_the_paper_keeps_gpus_apart(bodies):
    body = bodies["alexnet2012"]
    groups = {layer.name: body.get_submodule(layer.module).groups for layer in get_architecture("alexnet2012").conv_layers()}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}


def test_tower_of_names_the_gpu_of_each_channel():
    arch = get_architecture("alexnet2012")
    assert [arch.tower_of("conv1", c) for c in (0, 47, 48, 95)] == ["GPU 1", "GPU 1", "GPU 2", "GPU 2"]
    assert [arch.tower_of("conv2", c) for c in (127, 128)] == list(TOWERS)
    assert [arch.tower_of("fc6", c) for c in (2047, 2048)] == list(TOWERS)
    assert arch.tower_of("fc8", 0) == WHOLE  # fc8 reads both towers and is not split
    assert get_architecture("torchvision").tower_of("conv1", 0) == WHOLE
    for bad in (-1, 96):
        with pytest.raises(ValueError, match="no channel"):
            arch.tower_of("conv1", bad)


def test_every_channel_of_every_layer_knows_its_tower():
    arch = get_architecture("alexnet2012")
    rows = {r.name: r for r in walkthrough(arch)}
    for layer in arch.layers:
        towers = rows[layer.name].towers  # channels per tower, from the walkthrough
        if layer.kind == "flatten":
            with pytest.raises(ValueError, match="flattened"):
                arch.tower_of(layer.name, 0)
            continue
        width = rows[layer.name].output_shape[0]
        got = [arch.tower_of(layer.name, c) for c in (0, width // 2 - 1, width // 2, width - 1)]
        if towers is None:
            assert got == [WHOLE] * 4, layer.name
        else:
            assert got == ["GPU 1", "GPU 1", "GPU 2", "GPU 2"], layer.name
    assert arch.tower_of("norm1", 47) == "GPU 1" and arch.tower_of("pool5", 128) == "GPU 2"
    assert arch.tower_of("relu7", 4095) == "GPU 2" and arch.tower_of("fc8", 999) == WHOLE
    assert get_architecture("torchvision").tower_of("pool1", 10) == WHOLE
    with pytest.raises(ValueError, match="no channel 96"):
        arch.tower_of("pool1", 96)
    with pytest.raises(KeyError, match="no layer named 'pool9'"):
        arch.tower_of("pool9", 0)


@pytest.mark.parametrize("model", list(ARCHITECTURES))
def test_towers_cover_every_channel_once_and_agree_with_the_walkthrough(model):
    arch = get_architecture(model)
    vector = False  # from flatten to the next fc row: a vector whose width the table does not give
    for row in walkthrough(arch):
        vector = (vector or row.kind == "flatten") and row.kind != "linear"
        if vector:
            with pytest.raises(ValueError, match="flattened"):
                arch.towers(row.name)
            continue
        towers = arch.towers(row.name)
        assert [c for t in towers for c in t.channels] == list(range(row.output_shape[0])), row.name
        assert (tuple(len(t.channels) for t in towers) if len(towers) > 1 else None) == row.towers, row.name
        names = [t.name for t in towers]
        assert names == (list(arch.tower_names) if len(towers) > 1 else [WHOLE]), row.name
    assert arch.towers("conv1") is arch.towers("conv1"), "worked out once, then cached"


@pytest.mark.parametrize("model", ["torchvision", "keras-tutorial"])
def test_one_tower_variants_have_one_tower_everywhere(model):
    arch = get_architecture(model)
    assert arch.tower_names == ()
    for name in viewable_layers(arch):
        (tower,) = arch.towers(name)
        assert tower.name == WHOLE and arch.tower_of(name, tower.channels.stop - 1) == WHOLE
    assert arch.towers("conv1") == (Tower(WHOLE, range(arch.layer("conv1").out_channels)),)
    if model == "keras-tutorial":
        assert arch.towers("bn1") == (Tower(WHOLE, range(96)),) and arch.towers("fc9")[0].channels == range(17)


@pytest.mark.parametrize("model, layer, out, first, last, tower", [
    ("alexnet2012", "conv2", 200, 48, 95, "GPU 2"),
    ("alexnet2012", "conv2", 5, 0, 47, "GPU 1"),
    ("alexnet2012", "conv3", 200, 0, 255, "GPU 2"),
    ("alexnet2012", "conv4", 10, 0, 191, "GPU 1"),
    ("alexnet2012", "conv5", 255, 192, 383, "GPU 2"),
    ("torchvision", "conv2", 100, 0, 63, None),
])
def test_input_channels_follow_the_groups(model, layer, out, first, last, tower):
    arch = get_architecture(model)
    r = arch.input_channels(layer, out)
    assert (r.start, r.stop - 1) == (first, last)
    assert arch.tower_of(layer, out) == (tower or "all")


def test_input_channels_follow_the_groups_and_the_previous_width():
    alex, keras = get_architecture("alexnet2012"), get_architecture("keras-tutorial")
    assert alex.input_channels("conv1", 95) == range(0, 3)
    assert keras.input_channels("conv2", 0) == range(0, 96), "conv2 reads bn1's 96 channels"
    with pytest.raises(ValueError, match="only conv layers"):
        alex.input_channels("pool1", 0)


def test_lrn_is_caffes_by_default_and_the_papers_k_is_documented(bodies):
    norm1 = bodies["alexnet2012"].get_submodule("norm1")
    assert isinstance(norm1, nn.LocalResponseNorm)
    assert (norm1.size, norm1.alpha, norm1.beta, norm1.k) == (5, 1e-4, 0.75, 1.0)
    assert get_architecture("alexnet2012").layer("norm2").lrn == CAFFE_LRN
    # torch divides alpha by the window size, so the paper's alpha 1e-4 on the raw sum is 5e-4 here.
    assert (PAPER_LRN.k, PAPER_LRN.alpha / PAPER_LRN.size) == (2.0, 1e-4)


def test_unknown_model_names_the_choices():
    with pytest.raises(ValueError, match="Unknown model 'vgg': choose one of alexnet2012, torchvision, keras-tutorial"):
        get_architecture("vgg")
    with pytest.raises(KeyError, match="no layer named 'conv9'"):
        get_architecture("alexnet2012").layer("conv9")


def test_torchvision_preprocessing_numbers_are_its_weights_transform():
    t = AlexNet_Weights.IMAGENET1K_V1.transforms()
    ours = PREPROCESSING["torchvision"]
    assert (ours.resize, ours.crop) == (t.resize_size[0], t.crop_size[0])
    assert ours.mean == pytest.approx(tuple(t.mean)) and ours.std == pytest.approx(tuple(t.std))
    assert ours.scale == pytest.approx(1 / 255)


def test_alexnet2012_preprocessing_is_caffes_mean_in_rgb_order():
    ours = PREPROCESSING["alexnet2012"]
    assert (ours.resize, ours.crop, ours.scale, ours.std) == (256, 227, 1.0, (1.0, 1.0, 1.0))
    assert ours.mean == (122.68, 116.67, 104.01)  # R, G, B


@pytest.mark.parametrize("model", list(ARCHITECTURES))
def test_every_table_runs_at_its_own_size_and_says_where_it_comes_from(model):
    arch = get_architecture(model)
    assert arch.source and arch.title
    assert len(set(arch.names())) == len(arch.names())
    rows = walkthrough(arch)
    assert all(r.output_shape is not None for r in rows)
    assert rows[-1].output_shape == (arch.num_classes,)
    assert all(layer.note for layer in arch.conv_layers())


@pytest.mark.parametrize("size", [5, 4, 1])
def test_the_bodys_lrn_computes_torchs_numbers_and_gradients(size):
    import torch

    from alexnet_viz.body import LocalResponseNorm

    gen = torch.Generator().manual_seed(size)
    x = torch.randn(3, 12, 7, 6, generator=gen) * 40  # large enough that the denominator matters
    ours, ref = LocalResponseNorm(size, alpha=1e-4, beta=0.75, k=2.0), nn.LocalResponseNorm(size, 1e-4, 0.75, 2.0)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-6, atol=1e-6)
    g = torch.randn(x.shape, generator=gen)
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    (ga,) = torch.autograd.grad(ours(a), a, g)
    (gb,) = torch.autograd.grad(ref(b), b, g)
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-6)
    assert not torch.equal(ours(x), x), "it normalises"
    torch.testing.assert_close(ours(x[0]), ref(x[0])), "a 3-D input goes to torch's own"
    assert ours.state_dict() == {} and repr(ours) == repr(ref)


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode", [(3, 2, 0, True), (3, 2, 0, False), (2, 2, 0, False),
                                                            (3, 2, 1, True)])
def test_the_bodys_max_pooling_computes_torchs_numbers_and_gradients(kernel, stride, padding, ceil_mode):
    import torch
    import torch.nn.functional as F

    from alexnet_viz.body import MaxPool2d

    gen = torch.Generator().manual_seed(kernel + stride + padding)
    x = torch.relu(torch.randn(2, 16, 13, 14, generator=gen) - 1)  # ReLU's zeros make ties, as in the network
    ours = MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode)
    ref = nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode)
    y = ours(x)
    assert torch.equal(y, ref(x)) and y.is_contiguous(), "the same values, in the usual layout"
    # the same maxima's positions, ties included: a gradient that ignores the forward value (Captum's
    # Deconvolution passes relu(grad) through a ReLU) would show a different choice among tied zeros
    _, where = F.max_pool2d(x.contiguous(memory_format=torch.channels_last), kernel, stride, padding,
                            ceil_mode=ceil_mode, return_indices=True)
    top, usual = F.max_pool2d(x, kernel, stride, padding, ceil_mode=ceil_mode, return_indices=True)
    assert (top == 0).sum() >= 10, "windows of tied zeros"
    assert torch.equal(where, usual)
    g = torch.randn(y.shape, generator=gen)
    a = torch.randn(x.shape, generator=gen)  # through a ReLU, as in the network: ties sit where it is 0
    pa, pb = a.clone().requires_grad_(True), a.clone().requires_grad_(True)
    (ga,) = torch.autograd.grad(ours(torch.relu(pa)), pa, g)
    (gb,) = torch.autograd.grad(ref(torch.relu(pb)), pb, g)
    assert torch.equal(ga, gb)
    z = torch.randn(1, 2, 7, 8, dtype=torch.float64, generator=gen).requires_grad_(True)  # no ties
    assert torch.autograd.gradcheck(ours, (z,)), "the backward from the maxima's positions"
    assert torch.equal(ours(x[0]), ref(x[0])), "a 3-D input goes to torch's own"
    assert ours.state_dict() == {} and repr(ours) == repr(ref)


@pytest.mark.parametrize("model", ["alexnet2012", "torchvision"])
def test_both_networks_pool_with_the_bodys_max_pooling(model):
    from alexnet_viz.architecture import get_architecture
    from alexnet_viz.body import MaxPool2d, build_body

    pools = [m for m in build_body(get_architecture(model)).modules() if isinstance(m, nn.MaxPool2d)]
    assert len(pools) == 3 and all(type(m) is MaxPool2d for m in pools)
