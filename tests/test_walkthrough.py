"""The walkthrough's arithmetic against real tensors, torch's own counters and the paper's figures."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from alexnet_viz.architecture import Architecture, Layer, get_architecture
from alexnet_viz.network import build_body
from alexnet_viz.walkthrough import total_params, tower_bytes, viewable_layers, walkthrough

# Sizes each variant can take (and some it cannot); checked against real tensors below.
RUNNABLE = {
    "alexnet2012": [227, 224, 199, 230],  # 199..230 all reach fc6 with 9216 inputs
    "torchvision": [224, 227, 256, 63],  # adaptive pooling: anything from 63 up
    "keras-tutorial": [227, 215, 246],
}
BLOCKED = {"alexnet2012": [256, 198, 231], "keras-tutorial": [256]}


@pytest.fixture(scope="module")
def bodies() -> dict[str, nn.Module]:
    """The bare modules (default init: the weights do not matter for shapes), in eval mode."""
    return {m: build_body(get_architecture(m)).eval() for m in RUNNABLE}


def real_activations(body: nn.Module, model: str, size: int, upto: str | None = None) -> dict[str, torch.Tensor]:
    from alexnet_viz.network import Network

    net = Network(get_architecture(model), body)
    with torch.no_grad():
        return net.activations(torch.randn(1, 3, size, size), upto=upto)


@pytest.mark.parametrize("model,size", [(m, s) for m, sizes in RUNNABLE.items() for s in sizes])
def test_every_output_shape_matches_the_real_activation(bodies, model, size):
    rows = walkthrough(model, size)
    acts = real_activations(bodies[model], model, size)
    listed = {r.name: r for r in rows}
    assert list(acts) == [r.name for r in rows if r.kind not in ("dropout", "flatten")]
    for name, act in acts.items():
        assert listed[name].output_shape == tuple(act.shape[1:]), name
        assert listed[name].memory_bytes == act.numel() * act.element_size(), name
    assert all(r.output_shape is not None and (r.problem is None or not r.exact) for r in rows)


@pytest.mark.parametrize("model,size", [(m, s) for m, sizes in BLOCKED.items() for s in sizes])
def test_a_size_the_network_cannot_take_is_explained_and_the_net_refuses_it(bodies, model, size):
    rows = walkthrough(model, size)
    flatten = next(i for i, r in enumerate(rows) if r.kind == "flatten")
    blocked = rows[flatten:]
    assert all(r.output_shape is None for r in blocked)
    expected = 9216 if model == "alexnet2012" else 256
    why = blocked[0].problem
    assert f"cannot run at {size}×{size}" in why and f"expects {expected} inputs" in why
    assert all(r.problem == why for r in blocked[1:])
    # Up to the last pooling layer the network does run, and the shapes still agree.
    acts = real_activations(bodies[model], model, size, upto="pool5")
    for r in rows[:flatten]:
        if r.name in acts:
            assert r.output_shape == tuple(acts[r.name].shape[1:])
    # Parameters exist whatever the input size: the total does not change.
    assert total_params(rows) == total_params(walkthrough(model))
    from alexnet_viz.network import Network

    with pytest.raises(ValueError, match=rf"cannot run on a {size}×{size} input: .*expects {expected} inputs"):
        Network(get_architecture(model), bodies[model])(torch.zeros(1, 3, size, size))


def test_256_is_the_example_of_a_size_caffes_alexnet_cannot_take():
    rows = {r.name: r for r in walkthrough("alexnet2012", 256)}
    assert rows["pool5"].output_shape == (256, 7, 7)  # Caffe's ceil-mode pooling keeps the 7th row
    assert "256 × 7 × 7 = 12544" in rows["flatten"].problem


def test_too_small_an_input_names_the_layer_that_stops_it(bodies):
    rows = walkthrough("alexnet2012", 10)
    assert rows[0].output_shape is None and "conv1 needs at least 11 pixels and gets 10" in rows[0].problem
    with pytest.raises(ValueError, match="input size must be a positive number"):
        walkthrough("alexnet2012", 0)
    with pytest.raises(ValueError, match="whole number of pixels, not 227.5"):
        walkthrough("alexnet2012", 227.5)


def test_224_flags_conv1_as_not_a_whole_number():
    rows = {r.name: r for r in walkthrough("alexnet2012", 224)}
    conv1 = rows["conv1"]
    assert not conv1.exact and "54.25" in conv1.formula and "54.25" in conv1.problem
    assert conv1.output_shape == (96, 54, 54)
    assert all(r.exact for r in walkthrough("alexnet2012", 227))
    assert walkthrough("alexnet2012", 227)[0].formula == "(227 − 11 + 2·0)/4 + 1 = 55"


PAPER_PARAMS = {"conv1": 34_944, "conv2": 307_456, "conv3": 885_120, "conv4": 663_936, "conv5": 442_624,
                "fc6": 37_752_832, "fc7": 16_781_312, "fc8": 4_097_000}


def test_parameter_counts_are_the_papers():
    rows = walkthrough("alexnet2012", 227)
    assert {r.name: r.params for r in rows if r.params} == PAPER_PARAMS
    assert total_params(rows) == 60_965_224
    assert total_params(walkthrough("torchvision", 224)) == 61_100_840
    keras = {r.name: r for r in walkthrough("keras-tutorial", 227)}
    assert keras["conv2"].params == 2_973_952
    assert keras["bn1"].params == 4 * 96  # as Keras's summary counts BatchNorm


def test_conv1_macs_are_the_papers_and_every_layer_agrees_with_torchs_flop_counter(bodies):
    rows = walkthrough("alexnet2012", 227)
    assert rows[0].macs == 96 * 3 * 11 * 11 * 55 * 55 == 105_415_200
    for model, sizes in RUNNABLE.items():
        arch = get_architecture(model)
        size = sizes[0]
        acts = real_activations(bodies[model], model, size)
        previous = torch.randn(1, 3, size, size)
        for row, layer in zip(walkthrough(model, size), arch.layers):
            if layer.kind in ("conv", "linear"):
                module = bodies[model].get_submodule(layer.module)
                with FlopCounterMode(display=False) as counter:
                    module(previous if layer.kind == "conv" else previous.flatten(1))
                assert 2 * row.macs == counter.get_total_flops(), (model, row.name)  # torch counts mul+add
            if row.name in acts:
                previous = acts[row.name]


PAPER_RF = {"conv1": 11, "pool1": 19, "conv2": 51, "pool2": 67, "conv3": 99, "conv4": 131, "conv5": 163, "pool5": 195}


def test_receptive_fields_are_the_papers():
    rows = {r.name: r for r in walkthrough("alexnet2012", 227)}
    assert {n: rows[n].receptive_field.size for n in PAPER_RF} == PAPER_RF
    assert rows["pool5"].receptive_field.jump == 32
    assert rows["fc6"].receptive_field is None  # an fc unit sees the whole image


# torchvision at 256: at 224 its padding pushes pool5's fields past the border, clipping them.
@pytest.mark.parametrize("model,size", [("alexnet2012", 227), ("torchvision", 256)])
def test_receptive_field_size_and_centre_match_the_gradient_of_one_unit(model, size):
    """Rebuild the layers' geometry with ones (average pooling has the max-pool's windows): the
    input pixels that move one output unit are exactly its receptive field."""
    arch = get_architecture(model)
    rows = {r.name: r for r in walkthrough(model, size)}
    chain = []
    for layer in arch.layers:
        if layer.kind == "conv":
            conv = nn.Conv2d(1, 1, layer.kernel, layer.stride, layer.padding, bias=False).double()
            nn.init.ones_(conv.weight)
            chain.append(conv)
        elif layer.kind == "maxpool":
            chain.append(nn.AvgPool2d(layer.kernel, layer.stride, layer.padding, ceil_mode=layer.ceil_mode))
        else:
            continue
        x = torch.ones(1, 1, size, size, dtype=torch.float64, requires_grad=True)
        y = nn.Sequential(*chain)(x)  # (1, 1, side, side)
        assert y.shape[2:] == rows[layer.name].output_shape[1:]
        i = y.shape[-1] // 2
        y[0, 0, i, i].backward()
        touched = x.grad[0, 0].abs().sum(0).nonzero().flatten()  # columns that reach unit (i, i)
        lo, hi = int(touched.min()), int(touched.max())
        rf = rows[layer.name].receptive_field
        # The centre unit's field fits in the image (pool5's touches the edge exactly), so the
        # touched span is the whole field, not a clipped part of it.
        assert hi - lo + 1 == rf.size, layer.name
        assert (lo + hi) / 2 == rf.start + i * rf.jump, layer.name


@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, 0), (3, 2, 1), (2, 2, 0), (2, 2, 1), (3, 3, 1)])
@pytest.mark.parametrize("ceil_mode", [True, False])
def test_pooling_rounding_matches_torch_at_every_size(kernel, stride, padding, ceil_mode):
    arch = Architecture("pool-only", "one pooling layer", 8, 1, 1, (
        Layer("pool", "maxpool", "pool", kernel=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode),
        Layer("flatten", "flatten"), Layer("fc", "linear", "fc", 1)), source="test")
    pool = nn.MaxPool2d(kernel, stride, padding, ceil_mode=ceil_mode)
    for n in range(kernel, 64):
        row = walkthrough(arch, n)[0]
        real = pool(torch.zeros(1, 1, n, n)).shape[-1]
        assert row.output_shape == (1, real, real), n
        assert row.exact == ((n - kernel + 2 * padding) % stride == 0), n


def test_towers_are_split_in_halves_and_cross_tower_layers_are_marked():
    rows = {r.name: r for r in walkthrough("alexnet2012", 227)}
    assert rows["conv1"].towers == (48, 48) and rows["conv2"].towers == (128, 128)
    assert rows["conv3"].towers == (192, 192) and rows["fc6"].towers == (2048, 2048)
    assert rows["fc8"].towers is None
    assert [n for n, r in rows.items() if r.cross_tower] == ["conv3", "fc6", "fc7", "fc8"]
    assert all(r.towers is None for r in walkthrough("torchvision", 224))


def test_viewable_layers_match_what_the_network_returns(alex_acts):
    kinds = viewable_layers(get_architecture("alexnet2012"))
    assert list(kinds) == list(alex_acts)
    assert all((kinds[n] == "map") == (a.ndim == 4) for n, a in alex_acts.items())


# -- the two towers in bytes ----------------------------------------------------------------------------------
def test_tower_bytes_come_from_the_table():
    tb = tower_bytes("alexnet2012")
    rows = {r.name: r for r in walkthrough("alexnet2012")}
    assert sum(tb.params.values()) == 60_965_224
    assert tb.params["GPU 1"] == tb.params["GPU 2"] and tb.params["all"] == rows["fc8"].params
    assert sum(tb.macs.values()) == sum(r.macs for r in rows.values())
    cross = {c["layer"]: c for c in tb.crossings}
    assert [c["layer"] for c in tb.crossings if not c["caffe only"]] == ["conv3", "fc6", "fc7", "fc8"]
    assert cross["conv3"]["bytes per image"] == 2 * 128 * 13 * 13 * 4  # each GPU sends its half of pool2
    assert cross["fc6"]["bytes per image"] == 2 * 128 * 6 * 6 * 4
    assert cross["fc7"]["bytes per image"] == 2 * 2048 * 4
    assert cross["fc8"]["bytes per image"] == 2048 * 4  # fc8 is not split: GPU 2's half of fc7 crosses
    assert cross["norm1"]["caffe only"] and cross["norm1"]["bytes per image"] == 2 * 2 * 55 * 55 * 4
    assert tb.cross_bytes_per_batch == 128 * sum(cross[k]["bytes per image"] for k in ("conv3", "fc6", "fc7", "fc8"))
    share = tb.rows()[0]["share of a GTX 580's 3 GB"]
    assert 0 < share < 1
    with pytest.raises(ValueError, match="one tower"):
        tower_bytes("torchvision")
