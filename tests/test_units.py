"""One unit traced: its arithmetic adds up to the network's own value for every layer kind of
both ImageNet variants, its fields agree with the walkthrough and with torch's modules, its
effective receptive field lies inside the theoretical one, and tracing never runs the network."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import alexnet_viz as av
from alexnet_viz.network import Network

MODELS = ("alexnet2012", "torchvision")
# 199 makes alexnet2012's three ceil-mode pools hang over the edge (48 → 24, 24 → 12, 12 → 6);
# at 227 torchvision's pool1 leaves conv1's last row and column unread (floor rounding).
SIZES = {"alexnet2012": (227, 199), "torchvision": (224, 227)}
# Paper-sized units from ALEXNET.md, independent of the walkthrough: receptive field sides at 227.
PAPER_RF = {"conv1": 11, "pool1": 19, "conv2": 51, "pool2": 67, "conv3": 99, "conv4": 131, "conv5": 163,
            "pool5": 195}


@pytest.fixture(scope="module")
def nets() -> dict[str, Network]:
    return {m: av.load_network(m, "untrained", device="cpu") for m in MODELS}


@pytest.fixture(scope="module")
def images() -> dict[tuple[str, int], torch.Tensor]:
    """A deterministic random image per (model, side), on each variant's input scale."""
    gen = torch.Generator().manual_seed(11)
    return {(m, s): torch.randn(1, 3, s, s, generator=gen) * (50.0 if m == "alexnet2012" else 1.0)
            for m in MODELS for s in SIZES[m]}


@pytest.fixture(scope="module")
def forwards(nets, images) -> dict[tuple[str, int], dict[str, torch.Tensor]]:
    """Activations once per image; up to pool5 where the fc layers cannot run (none here)."""
    with torch.no_grad():
        return {key: nets[key[0]].activations(x) for key, x in images.items()}


def units_of(a: torch.Tensor) -> list[tuple[int, int | None, int | None]]:
    """(channel, row, col) at the corners, an edge and the centre of an activation (1, C, H, W),
    or the first, a middle and the last unit of a vector (1, F)."""
    c = a.shape[1]
    if a.dim() == 2:
        return [(0, None, None), (c // 2, None, None), (c - 1, None, None)]
    h, w = a.shape[2:]
    return [(0, 0, 0), (c - 1, h - 1, w - 1), (c // 3, 0, w - 1), (c // 2, h // 2, w // 2), (1, h - 1, 0)]


def layer_cases(sizes=None):
    return [(m, s, name) for m in MODELS for s in (sizes or SIZES)[m]
            for name in av.get_architecture(m).names()
            if av.get_architecture(m).layer(name).kind not in ("dropout", "flatten")]


def module(net: Network, name: str) -> nn.Module:
    return net.body.get_submodule(net.arch.layer(name).module)


def assert_adds_up(lhs: float, value: float, magnitude: float) -> None:
    """Relative error ≤ 1e-4, with an absolute slack of 1e-6 of the summed magnitudes: float32
    accumulation error grows with Σ|terms|, not with a value that cancels to almost zero."""
    assert abs(lhs - value) <= 1e-4 * abs(value) + 1e-6 * magnitude, (lhs, value, magnitude)


# -- the arithmetic of every layer kind ----------------------------------------------------------
@pytest.mark.parametrize("model,size,name", layer_cases())
def test_every_unit_adds_up_to_the_networks_own_value(nets, images, forwards, model, size, name):
    net, x, acts = nets[model], images[model, size], forwards[model, size]
    spec = net.arch.layer(name)
    for channel, row, col in units_of(acts[name]):
        u = av.trace_unit(net, x, name, channel, row, col, acts=acts)
        expected = acts[name][0, channel] if row is None else acts[name][0, channel, row, col]
        assert u.value == float(expected) and u.layer == name and (u.channel, u.row, u.col) == (channel, row, col)
        src = x if u.source == "input" else acts[u.source]
        assert tuple(src.shape[1:]) == u.source_shape
        p = u.patch.astype(np.float64)
        if u.kind == "conv":
            m = module(net, name)
            k = spec.kernel
            assert u.patch.shape == u.weight.shape == (m.in_channels // m.groups, k, k)
            assert np.array_equal(u.weight, m.weight[channel].numpy()) and u.bias == float(m.bias[channel])
            np.testing.assert_allclose(u.terms, (p * u.weight).sum(axis=(1, 2)))
            assert_adds_up((p * u.weight).sum() + u.bias, u.value, np.abs(p * u.weight).sum() + abs(u.bias))
            y0, y1, x0, x1 = u.window
            assert (y1 - y0, x1 - x0) == (k, k) and (y0, x0) == (row * spec.stride - spec.padding,
                                                                 col * spec.stride - spec.padding)
            padded = nn.functional.pad(src[0], (spec.padding,) * 4)  # (C, H + 2p, W + 2p), zeros outside
            ys, xs = y0 + spec.padding, x0 + spec.padding
            assert np.array_equal(u.patch, padded[u.in_channels.start:u.in_channels.stop, ys:ys + k, xs:xs + k].numpy())
        elif u.kind == "linear":
            m = module(net, name)
            assert u.patch.shape == u.weight.shape == u.terms.shape == (m.in_features,)
            assert u.in_channels == range(m.in_features)
            assert np.array_equal(u.patch, src[0].reshape(-1).numpy())  # (C, H, W) order, as fc6 reads it
            assert_adds_up(u.terms.sum() + u.bias, u.value, np.abs(u.terms).sum() + abs(u.bias))
        elif u.kind == "relu":
            assert u.patch.shape == (1, 1, 1) and u.in_channels == range(channel, channel + 1)
            assert u.value == max(0.0, float(u.patch[0, 0, 0])) and u.weight is u.bias is u.terms is None
        elif u.kind == "lrn":
            s = spec.lrn
            assert u.in_channels == range(max(0, channel - 2), min(acts[name].shape[1], channel + 3))
            assert u.patch.shape == (len(u.in_channels), 1, 1)
            centre = p[channel - u.in_channels.start, 0, 0]
            assert_adds_up(centre / (s.k + s.alpha / s.size * (p ** 2).sum()) ** s.beta, u.value, abs(centre))
        elif u.kind == "pool":
            k = spec.kernel
            assert u.patch.shape == (1, k, k) and u.in_channels == range(channel, channel + 1)
            assert u.value == u.patch.max()
            y0, y1, x0, x1 = u.window
            outside = np.ones((k, k), bool)
            outside[max(0, -y0):src.shape[2] - y0, max(0, -x0):src.shape[3] - x0] = False
            assert np.isneginf(u.patch[0][outside]).all() and np.isfinite(u.patch[0][~outside]).all()
        elif u.kind == "avgpool":
            assert u.in_channels == range(channel, channel + 1)
            assert_adds_up(p.mean(), u.value, np.abs(p).mean())
        else:
            pytest.fail(f"unexpected kind {u.kind}")


def test_every_kind_is_covered_and_pools_hang_over_the_edge_at_199(nets, images, forwards):
    kinds = {av.trace_unit(nets[m], images[m, s], n, 0, *((None, None) if forwards[m, s][n].dim() == 2 else (0, 0)),
                           acts=forwards[m, s]).kind for m, s, n in layer_cases()}
    assert kinds == {"conv", "relu", "lrn", "pool", "avgpool", "linear"}
    acts = forwards["alexnet2012", 199]
    for name in ("pool1", "pool2", "pool5"):
        h = acts[name].shape[2]
        u = av.trace_unit(nets["alexnet2012"], images["alexnet2012", 199], name, 5, h - 1, h - 1, acts=acts)
        assert np.isneginf(u.patch[0, 2, :]).all() and np.isneginf(u.patch[0, :, 2]).all()
        assert u.window[1] == u.source_shape[1] + 1  # one row past the edge: Caffe's ceil mode


def test_the_issues_example_reads_gpu_2s_half_of_pool1(nets, images, forwards):
    net, x, acts = nets["alexnet2012"], images["alexnet2012", 227], forwards["alexnet2012", 227]
    u = av.trace_unit(net, x, "conv2", channel=130, row=10, col=12, acts=acts)
    assert (u.layer, u.kind, u.source, u.in_channels) == ("conv2", "conv", "pool1", range(48, 96))
    assert u.window == (8, 13, 10, 15) and u.patch.shape == u.weight.shape == (48, 5, 5) and u.terms.shape == (48,)
    assert av.trace_unit(net, x, "conv3", 5, 3, 3, acts=acts).in_channels == range(0, 256)
    assert av.trace_unit(net, x, "conv1", 5, 3, 3, acts=acts).source == "input"
    assert av.trace_unit(net, x, "fc6", 7, acts=acts).source == "pool5"
    assert av.trace_unit(nets["torchvision"], images["torchvision", 224], "fc6", 7,
                         acts=forwards["torchvision", 224]).source == "avgpool"


@pytest.mark.parametrize("name,channel,tower", [("conv2", 127, range(0, 48)), ("conv2", 128, range(48, 96)),
                                                ("conv4", 191, range(0, 192)), ("conv4", 192, range(192, 384)),
                                                ("conv5", 0, range(0, 192)), ("conv5", 255, range(192, 384)),
                                                ("conv3", 383, range(0, 256))])
def test_a_grouped_unit_reads_exactly_its_towers_channels(nets, images, forwards, name, channel, tower):
    """Independent of the table: zero every channel outside in_channels and torch's own conv
    gives the same value; zero those inside and it changes."""
    net, x, acts = nets["alexnet2012"], images["alexnet2012", 227], forwards["alexnet2012", 227]
    u = av.trace_unit(net, x, name, channel, 6, 7, acts=acts)
    assert u.in_channels == tower
    src = acts[u.source].clone()  # (1, C, h, w)
    keep = torch.zeros(src.shape[1], dtype=torch.bool)
    keep[tower.start:tower.stop] = True
    with torch.no_grad():
        only = module(net, name)(src * keep.view(1, -1, 1, 1))[0, channel, 6, 7]
        without = module(net, name)(src * ~keep.view(1, -1, 1, 1))[0, channel, 6, 7]
    assert float(only) == pytest.approx(u.value, rel=1e-5, abs=1e-6)
    assert float(without) != pytest.approx(u.value, rel=1e-3)


def test_lrn_reads_five_channels_across_the_towers_and_fewer_at_the_ends(nets, images, forwards):
    net, x, acts = nets["alexnet2012"], images["alexnet2012", 227], forwards["alexnet2012", 227]
    assert av.trace_unit(net, x, "norm1", 47, 9, 9, acts=acts).in_channels == range(45, 50)  # GPU 1 and GPU 2
    assert av.trace_unit(net, x, "norm1", 0, 9, 9, acts=acts).in_channels == range(0, 3)
    assert av.trace_unit(net, x, "norm2", 255, 9, 9, acts=acts).in_channels == range(253, 256)


# -- receptive fields -----------------------------------------------------------------------------
@pytest.mark.parametrize("model,size", [("alexnet2012", 227), ("alexnet2012", 199), ("torchvision", 224),
                                        ("torchvision", 256)])  # 256: torchvision's adaptive pool goes 7 → 6
def test_receptive_fields_agree_with_the_walkthrough(nets, model, size):
    net = nets[model]
    x = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        acts = net.activations(x)
    rows = {r.name: r for r in av.walkthrough(model, size)}
    for name, a in acts.items():
        rf = rows[name].receptive_field
        if a.dim() == 2:  # a vector unit sees everything pool5 (or avgpool) sees
            last = [n for n, b in acts.items() if b.dim() == 4][-1]
            h, w = acts[last].shape[2:]
            top = av.trace_unit(net, x, last, 0, 0, 0, acts=acts).receptive_field
            bottom = av.trace_unit(net, x, last, 0, h - 1, w - 1, acts=acts).receptive_field
            assert av.trace_unit(net, x, name, 0, acts=acts).receptive_field == (top[0], bottom[1], top[2], bottom[3])
            continue
        for row, col in ((0, 0), (a.shape[2] - 1, a.shape[3] // 2)):
            y0, y1, x0, x1 = av.trace_unit(net, x, name, 0, row, col, acts=acts).receptive_field
            assert (y1 - y0, x1 - x0) == (rf.size, rf.size)
            assert ((y0 + y1 - 1) / 2, (x0 + x1 - 1) / 2) == (rf.start + row * rf.jump, rf.start + col * rf.jump)
        if model == "alexnet2012" and size == 227 and name in PAPER_RF:
            assert rf.size == PAPER_RF[name]


# -- projective fields, against torch's own modules -----------------------------------------------
def reader_of(net: Network, acts, name: str):
    """The next activation, and a function that computes it from ``name``'s with torch's module."""
    names = list(acts)
    reader = names[names.index(name) + 1]
    m = module(net, reader)
    flat = net.arch.layer(reader).kind == "linear" and acts[name].dim() == 4
    return reader, lambda a: m(a.flatten(1) if flat else a)


def changed_by(net: Network, acts, name: str, channel: int, row, col, base=None):
    """Which units of the next layer change when this one grows by a lot: (channels, box), the
    bounding ranges of the change, found with torch's modules rather than the table. Only
    which units read which matters here, so the values are made positive first."""
    reader, run = reader_of(net, acts, name)
    a = acts[name].abs() + 1.0  # strictly positive: a dead (zero) unit would stay zero after LRN or ReLU
    with torch.no_grad():
        bump = a.clone()
        index = (0, channel) if row is None else (0, channel, row, col)
        bump[index] += 1e3 * (1.0 + float(a.max()))
        diff = (run(bump) != (run(a) if base is None else base))[0]
    hit = diff.nonzero()
    if len(hit) == 0:
        return reader, None
    chans = range(int(hit[:, 0].min()), int(hit[:, 0].max()) + 1)
    assert diff.reshape(diff.shape[0], -1).any(1).sum() == len(chans)  # every channel in between changes too
    if diff.dim() == 1:
        return reader, (chans, None)
    return reader, (chans, (int(hit[:, 1].min()), int(hit[:, 1].max()) + 1, int(hit[:, 2].min()),
                            int(hit[:, 2].max()) + 1))


@pytest.mark.parametrize("model,size,name", layer_cases())
def test_projective_field_is_what_torch_changes_when_the_unit_changes(nets, images, forwards, model, size, name):
    net, x, acts = nets[model], images[model, size], forwards[model, size]
    if name != "fc8":
        with torch.no_grad():
            base = reader_of(net, acts, name)[1](acts[name].abs() + 1.0)
    for channel, row, col in units_of(acts[name]):
        u = av.trace_unit(net, x, name, channel, row, col, acts=acts)
        reader, field = changed_by(net, acts, name, channel, row, col, base) if name != "fc8" else (None, None)
        assert u.projective_field == ({} if field is None else {reader: field}), (channel, row, col)


def test_pool1_channel_10_is_read_by_conv2s_first_tower_only(nets, images, forwards):
    net, x, acts = nets["alexnet2012"], images["alexnet2012", 227], forwards["alexnet2012", 227]
    assert av.trace_unit(net, x, "pool1", 10, 0, 26, acts=acts).projective_field == {
        "conv2": (range(0, 128), (0, 3, 24, 27))}
    assert av.trace_unit(net, x, "pool1", 50, 13, 13, acts=acts).projective_field == {
        "conv2": (range(128, 256), (11, 16, 11, 16))}


def test_a_unit_that_floor_rounding_leaves_unread_has_no_reader(nets, images, forwards):
    acts = forwards["torchvision", 227]
    assert acts["relu1"].shape[2] == 56 and acts["pool1"].shape[2] == 27  # window 26 ends at row 54
    u = av.trace_unit(nets["torchvision"], images["torchvision", 227], "relu1", 3, 55, 10, acts=acts)
    assert u.projective_field == {} and av.strongest_reader(nets["torchvision"], acts, u) is None


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,message", [
    (("conv2", 256, 3, 3), r"conv2 has 256 channels of 27×27 \(256×27×27\); there is no channel 256"),
    (("conv2", -1, 3, 3), r"256×27×27.*no channel -1"),
    (("conv2", 3, 27, 0), r"256×27×27.*row 27, column 0"),
    (("pool5", 3, 0, -1), r"256×6×6.*row 0, column -1"),
    (("conv2", 3, None, None), r"27×27.*give a row and a column"),
    (("conv2", 3, 4, None), r"27×27.*give a row and a column"),
    (("fc6", 3, 0, 0), r"fc6 is a vector of 4096 units.*row=None, col=None"),
    (("fc8", 1000, None, None), r"vector of 1000 units.*no channel 1000"),
    (("conv9", 0, 0, 0), r"no layer named 'conv9'.*conv1, relu1, norm1"),
    (("drop6", 0, None, None), r"drop6 is a dropout step, not an activation.*relu6 or fc7"),
    (("flatten", 0, None, None), r"not an activation"),
    (("conv2", 2.5, 3, 3), r"channel must be a whole number"),
])
def test_a_unit_outside_the_layer_is_a_sentence_naming_its_shape(nets, images, forwards, args, message):
    net, x, acts = nets["alexnet2012"], images["alexnet2012", 227], forwards["alexnet2012", 227]
    with pytest.raises(ValueError, match=message):
        av.trace_unit(net, x, *args, acts=acts)
    with pytest.raises(ValueError, match=message):
        av.effective_receptive_field(net, x, *args)


def test_a_batch_or_activations_of_another_image_are_refused(nets, images, forwards):
    net, x = nets["alexnet2012"], images["alexnet2012", 227]
    with pytest.raises(ValueError, match=r"one image.*\(2, 3, 227, 227\)"):
        av.trace_unit(net, x.expand(2, -1, -1, -1), "conv1", 0, 0, 0)
    with pytest.raises(ValueError, match=r"shaped \(96, 24, 24\).*\(96, 27, 27\)"):
        av.trace_unit(net, x, "pool1", 0, 0, 0, acts=forwards["alexnet2012", 199])
    with pytest.raises(ValueError, match="hold no norm1: tracing pool1 needs pool1 and the layer it reads"):
        av.trace_unit(net, x, "pool1", 0, 0, 0, acts={"pool1": forwards["alexnet2012", 227]["pool1"]})


# -- tracing reads activations; it does not run the network ---------------------------------------
@pytest.fixture()
def count_passes(monkeypatch) -> dict[str, int]:
    """Counts every walk through a Network and every call of any nn.Module (conv, linear, ...)."""
    calls = {"walks": 0, "modules": 0}
    walk, call = Network._walk, nn.Module.__call__

    def counted_walk(self, *args, **kwargs):
        calls["walks"] += 1
        return walk(self, *args, **kwargs)

    def counted_call(self, *args, **kwargs):
        calls["modules"] += 1
        return call(self, *args, **kwargs)

    monkeypatch.setattr(Network, "_walk", counted_walk)
    monkeypatch.setattr(nn.Module, "__call__", counted_call)
    return calls


@pytest.mark.parametrize("model", MODELS)
def test_tracing_with_the_callers_activations_runs_no_forward_pass(nets, images, forwards, count_passes, model):
    size = SIZES[model][0]
    net, x, acts = nets[model], images[model, size], forwards[model, size]
    # The app's form: numpy arrays without the batch, read-only, shared between sessions.
    cached = {k: v[0].numpy().copy() for k, v in acts.items()}
    for a in cached.values():
        a.flags.writeable = False
    for name, a in acts.items():
        for channel, row, col in units_of(a):
            u = av.trace_unit(net, x, name, channel, row, col, acts=acts)
            v = av.trace_unit(net, x, name, channel, row, col, acts=cached)
            assert u.value == v.value and np.array_equal(u.patch, v.patch) and u.window == v.window
            assert u.projective_field == v.projective_field and v.position() == (name, channel, row, col)
            av.strongest_input(v)
            av.strongest_reader(net, cached, v)
    assert count_passes == {"walks": 0, "modules": 0}
    u = av.trace_unit(net, x, "conv3", 0, 0, 0)  # without acts: one pass, stopping at conv3
    assert count_passes["walks"] == 1 and count_passes["modules"] == list(acts).index("conv3") + 1
    assert u.value == float(acts["conv3"][0, 0, 0, 0])


def test_a_traced_unit_is_read_only(nets, images, forwards):
    u = av.trace_unit(nets["alexnet2012"], images["alexnet2012", 227], "conv2", 1, 1, 1,
                      acts=forwards["alexnet2012", 227])
    for a in (u.patch, u.weight, u.terms):
        with pytest.raises(ValueError):
            a[0] = 1
    assert float(module(nets["alexnet2012"], "conv2").weight[1, 0, 0, 0]) == float(u.weight[0, 0, 0])


# -- the effective receptive field ----------------------------------------------------------------
def clipped(box, h, w):
    y0, y1, x0, x1 = box
    return max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)


@pytest.mark.parametrize("model,name,where", [
    ("alexnet2012", "conv2", "centre"), ("alexnet2012", "norm1", "corner"), ("alexnet2012", "pool2", "corner"),
    ("alexnet2012", "conv5", "corner"), ("alexnet2012", "pool5", "centre"), ("torchvision", "conv1", "corner"),
    ("torchvision", "conv3", "corner"), ("torchvision", "avgpool", "centre")])
def test_the_effective_receptive_field_lies_inside_the_theoretical_one(nets, images, forwards, model, name, where):
    net, x, acts = nets[model], images[model, SIZES[model][0]], forwards[model, SIZES[model][0]]
    a = acts[name][0]  # (C, h, w)
    row, col = (0, 0) if where == "corner" else (a.shape[1] // 2, a.shape[2] // 2)
    channel = int(a[:, row, col].argmax())  # a firing unit: its gradient is not zero
    erf = av.effective_receptive_field(net, x, name, channel, row, col)
    H, W = x.shape[2:]
    assert erf.shape == (H, W) and (erf >= 0).all()
    y0, y1, x0, x1 = clipped(av.trace_unit(net, x, name, channel, row, col, acts=acts).receptive_field, H, W)
    inside = np.zeros((H, W), bool)
    inside[y0:y1, x0:x1] = True
    assert erf[~inside].sum() == 0 and erf[inside].sum() > 0
    assert not x.requires_grad and x.grad is None
    assert all(not p.requires_grad and p.grad is None for p in net.parameters())


def test_conv1s_effective_receptive_field_is_its_kernel_and_a_dead_unit_has_none(nets, images, forwards):
    net, x, acts = nets["torchvision"], images["torchvision", 224], forwards["torchvision", 224]
    erf = av.effective_receptive_field(net, x, "conv1", 7, 0, 3)  # padding 2: the kernel's top rows hang out
    expected = np.zeros(erf.shape, np.float32)
    expected[0:9, 10:21] = module(net, "conv1").weight[7].abs().sum(0)[2:, :].numpy()
    np.testing.assert_allclose(erf, expected, rtol=1e-6)
    dead = (acts["relu3"][0] == 0).nonzero()[0].tolist()
    assert not av.effective_receptive_field(net, x, "relu3", *dead).any()
    assert av.effective_receptive_field(net, x, "fc8", 3).any()


# -- walking the network ---------------------------------------------------------------------------
@pytest.mark.parametrize("model", MODELS)
def test_strongest_inputs_walk_from_the_class_down_to_the_pixels(nets, images, forwards, model):
    size = SIZES[model][0]
    net, x, acts = nets[model], images[model, size], forwards[model, size]
    position = ("fc8", int(acts["fc8"].argmax()), None, None)
    visited = []
    while position[0] != "input":
        u = av.trace_unit(net, x, *position, acts=acts)
        visited.append(u.layer)
        position = av.strongest_input(u)
        layer, channel, row, col = position
        assert layer == u.source and channel in range(u.source_shape[0])
        if u.kind == "conv":  # the largest product inside the map, not in the padding
            y0, _, x0, _ = u.window
            product = u.patch[channel - u.in_channels.start, row - y0, col - x0] * \
                u.weight[channel - u.in_channels.start, row - y0, col - x0]
            my, mx = slice(max(0, -y0), u.source_shape[1] - y0), slice(max(0, -x0), u.source_shape[2] - x0)
            assert product == (u.patch * u.weight)[:, my, mx].max()
        elif u.kind == "linear":
            f = channel if row is None else np.ravel_multi_index((channel, row, col), u.source_shape)
            assert u.terms[f] == u.terms.max()
        elif u.kind in ("pool", "avgpool"):
            assert float(acts[layer][0, channel, row, col]) == u.patch.max()
        else:
            assert (channel, row, col) == (u.channel, u.row, u.col)
    assert visited == list(reversed(acts))


@pytest.mark.parametrize("model", MODELS)
def test_strongest_readers_walk_from_conv1_up_to_the_class(nets, images, forwards, model):
    size = SIZES[model][0]
    net, x, acts = nets[model], images[model, size], forwards[model, size]
    a = acts["conv1"][0]
    position = ("conv1", int(a[:, 20, 20].argmax()), 20, 20)
    visited = []
    while position is not None:
        u = av.trace_unit(net, x, *position, acts=acts)
        visited.append(u.layer)
        position = av.strongest_reader(net, acts, u)
        if position is None:
            break
        reader = av.trace_unit(net, x, *position, acts=acts)  # it really reads u
        assert reader.source == u.layer and u.channel in reader.in_channels
        if u.row is not None and reader.window is not None:
            y0, y1, x0, x1 = reader.window
            assert y0 <= u.row < y1 and x0 <= u.col < x1
        if reader.kind == "pool":  # the window u comes closest to winning; a gap of 0 where it wins one
            channels, (y0, y1, x0, x1) = u.projective_field[reader.layer]
            gaps = acts[reader.layer][0, u.channel, y0:y1, x0:x1] - u.value
            assert reader.value - u.value == float(gaps.min()) >= 0
    assert visited == list(acts)


def test_the_strongest_conv_reader_is_the_largest_weight_times_value(nets, images, forwards):
    """Brute force: trace every unit of conv2 that reads one unit of pool1 and take the product."""
    net, x, acts = nets["alexnet2012"], images["alexnet2012", 227], forwards["alexnet2012", 227]
    u = av.trace_unit(net, x, "pool1", 60, 12, 20, acts=acts)
    assert u.value > 0
    channels, (y0, y1, x0, x1) = u.projective_field["conv2"]
    best, where = -np.inf, None
    for c in channels:
        for r in range(y0, y1):
            for q in range(x0, x1):
                v = av.trace_unit(net, x, "conv2", c, r, q, acts=acts)
                wy, _, wx, _ = v.window
                product = v.weight[u.channel - v.in_channels.start, u.row - wy, u.col - wx] * u.value
                if product > best:
                    best, where = product, ("conv2", c, r, q)
    assert av.strongest_reader(net, acts, u) == where


def test_the_strongest_input_is_never_in_the_padding(nets, images, forwards):
    """A corner unit whose every product inside the map is negative: the padding's zeros would
    win a plain argmax, but padding contributes nothing, so the answer stays on the map."""
    net, x, acts = nets["alexnet2012"], images["alexnet2012", 227], forwards["alexnet2012", 227]
    w = module(net, "conv2").weight[0]  # (48, 5, 5): the first tower's kernel of channel 0
    crafted = dict(acts)
    pool1 = torch.zeros_like(acts["pool1"])  # (1, 96, 27, 27)
    pool1[0, :48, 0:3, 0:3] = -torch.sign(w[:, 2:, 2:]) - 0.5 * (w[:, 2:, 2:] == 0)  # unit (0, 0) reads rows -2..2
    crafted["pool1"] = pool1
    u = av.trace_unit(net, x, "conv2", 0, 0, 0, acts=crafted)
    inside = (u.patch * u.weight)[:, 2:, 2:]
    assert (inside < 0).all() and (u.patch[:, :2, :] == 0).all()
    layer, channel, row, col = av.strongest_input(u)
    assert layer == "pool1" and 0 <= row < 3 and 0 <= col < 3
    assert u.patch[channel, row + 2, col + 2] * u.weight[channel, row + 2, col + 2] == inside.max()


# -- the input a unit actually reads, at sizes other than the crop ----------------------------------
def support_box(arch, name: str, h: int, w: int, unit) -> tuple[int, int, int, int]:
    """Autograd's support of one unit on an h×w input, on a stand-in built from torch's own ops with
    the table's geometry: every conv an all-ones kernel, every max pool an average pool (whose
    gradient reaches its whole window, where a max pool's reaches one element), ReLU and LRN left
    out (they do not move anything). With all weights positive the support is exactly what the unit
    can depend on. ``unit`` is (row, col), or None for the sum over the whole map (a vector unit)."""
    import torch.nn.functional as F

    x = torch.ones(1, 1, h, w, requires_grad=True)
    a = x
    for layer in arch.layers:
        if layer.kind == "conv":
            a = F.conv2d(a, torch.ones(1, 1, layer.kernel, layer.kernel), stride=layer.stride, padding=layer.padding)
        elif layer.kind == "maxpool":
            a = F.avg_pool2d(a, layer.kernel, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
        if layer.name == name:
            break
    out = a.sum() if unit is None else a[0, 0, unit[0], unit[1]]
    (g,) = torch.autograd.grad(out, x)
    ys, xs = g[0, 0].nonzero(as_tuple=True)
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


@pytest.mark.parametrize("model,h,w", [("alexnet2012", 223, 229), ("torchvision", 227, 227)])
def test_the_input_a_unit_reads_is_autograds_support_at_an_odd_size(nets, model, h, w):
    """229 wide, conv1 (11, stride 4) reads columns 0-226 only: conv2[26,26], pool2[12,12] and pool5[5,5]
    once reported column 228 as theirs. torchvision at 227: pool1 never reads conv1's last row."""
    net = nets[model]
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        acts = net.activations(x, upto="pool5" if model == "alexnet2012" else "avgpool")
    maps = [n for n, a in acts.items() if a.dim() == 4 and net.arch.layer(n).kind in ("conv", "maxpool")]
    for name in maps:
        hh, ww = acts[name].shape[2:]
        for row, col in {(0, 0), (hh - 1, ww - 1), (hh // 2, ww - 1), (hh - 1, 0)}:
            u = av.trace_unit(net, x, name, 0, row, col, acts=acts)
            assert u.input_box == support_box(net.arch, name, h, w, (row, col)), (name, row, col)
    last = maps[-1]
    want = support_box(net.arch, last, h, w, None)
    if model == "alexnet2012":
        assert want[3] == 227 < w, "the last two columns are never read"
        for name, row, col in (("conv2", 26, 26), ("pool2", 12, 12), ("pool5", 5, 5)):
            u = av.trace_unit(net, x, name, 0, row, col, acts=acts)
            assert u.input_box[3] == 227 and u.receptive_field[3] > w  # clipped to what conv1 reads
    else:
        assert want[1] == want[3] == 225  # conv1's row 55 is read by no pool1 window
