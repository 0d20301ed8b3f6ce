"""The unit page's numbers: the LRN breakdown reproduces the network's value, the fc table names the
right channel and tower, the ERF share measures what it says, and the sentences name the towers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import alexnet_viz as av
from alexnet_viz import render, unit_figures as UF


@pytest.fixture(scope="module")
def traced():
    net = av.load_network("alexnet2012", "untrained", device="cpu")
    x = torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(3)) * 50
    with torch.no_grad():
        acts = net.activations(x)
    return net, x, acts


def test_the_lrn_breakdown_gives_the_networks_value(traced):
    net, x, acts = traced
    r, c = (int(v) for v in np.unravel_index(int(acts["relu1"][0, 47].argmax()), (55, 55)))  # a live unit
    u = av.trace_unit(net, x, "norm1", 47, r, c, acts=acts)
    b = UF.lrn_breakdown(u, net.arch.layer("norm1").lrn)
    assert b.channels == (45, 46, 47, 48, 49) and b.value == pytest.approx(u.value, rel=1e-4)
    assert b.centre == pytest.approx(float(acts["relu1"][0, 47, r, c]), rel=1e-6) and b.centre > 0
    assert 0 < b.shrink <= 1


def test_fc6_contributions_name_pool5s_channel_position_and_tower(traced):
    net, x, acts = traced
    u = av.trace_unit(net, x, "fc6", 7, acts=acts)
    rows = UF.linear_contributions(u, net.arch, k=10)
    assert [r["feature"] for r in rows] == list(np.argsort(-np.abs(u.terms), kind="stable")[:10])
    for r in rows:
        assert (r["channel"], r["row"], r["col"]) == np.unravel_index(r["feature"], (256, 6, 6))
        assert r["tower"] == ("GPU 1" if r["channel"] < 128 else "GPU 2")
        assert r["term"] == pytest.approx(r["weight"] * r["input"], rel=1e-5)


def test_contribution_bars_take_the_sign_pair_never_a_towers_colour(traced):
    """A GPU 1 unit that subtracts is purple and one that adds green: blue and vermillion mean the
    towers on every page (issue 22, item 7), so a bar's colour never says which tower it is."""
    from alexnet_viz.render.colour import SIGN_COLOURS, TOWER_COLOURS

    net, x, acts = traced
    u = av.trace_unit(net, x, "fc7", 3, acts=acts)
    rows = UF.linear_contributions(u, net.arch, k=10)
    assert {r["term"] > 0 for r in rows} == {True, False}, "this unit has terms of both signs"
    bars = UF.contributions_figure(rows, u.source).data[0]
    want = [SIGN_COLOURS["positive" if r["term"] >= 0 else "negative"] for r in rows[::-1]]
    assert list(bars.marker.color) == want
    terms = UF.terms_figure(av.trace_unit(net, x, "conv2", 5, 3, 3, acts=acts), net.arch).data[0]
    assert set(terms.marker.color) <= set(SIGN_COLOURS.values())
    towers = {c.lower() for c in TOWER_COLOURS.values()}
    assert not towers & {c.lower() for c in list(bars.marker.color) + list(terms.marker.color)}


def test_conv1s_terms_are_labelled_by_colour_not_by_position(traced):
    net, x, acts = traced
    fig = UF.terms_figure(av.trace_unit(net, x, "conv1", 5, 10, 10, acts=acts), net.arch)
    assert list(fig.layout.xaxis.ticktext) == ["red", "green", "blue"] and list(fig.layout.xaxis.tickvals) == [0, 1, 2]
    conv2 = UF.terms_figure(av.trace_unit(net, x, "conv2", 5, 3, 3, acts=acts), net.arch)
    assert conv2.layout.xaxis.ticktext is None, "channel numbers stay numbers"


def test_the_erf_share_counts_the_central_half_of_the_box():
    erf = np.zeros((20, 20))
    erf[8:12, 8:12] = 1.0  # 16 pixels' worth in the middle
    erf[0, 0] = 1.0  # one pixel's worth in a corner, inside the box but outside its central half
    share = UF.erf_share(erf, (0, 20, 0, 20))
    assert share.centre == (5, 15, 5, 15) and share.uniform == pytest.approx(0.25)
    assert share.in_centre == pytest.approx(16 / 17) and share.in_box == pytest.approx(1.0)
    assert UF.erf_share(np.zeros((4, 4)), (0, 4, 0, 4)).in_centre == 0.0, "a dead unit: no mass, no division by 0"
    assert UF.clip_box((-3, 10, 5, 30), 8, 20) == (0, 8, 5, 20)


@pytest.mark.parametrize("layer,channel,words", [
    ("conv2", 130, "reads only GPU 2's 48 channels of pool1 (paper §3.2)"),
    ("conv2", 3, "reads only GPU 1's 48 channels of pool1"),
    ("conv3", 0, "reads all 256 channels of pool2, from both GPUs"),
    ("conv1", 0, "reads all 3 colour channels"),
])
def test_the_reads_sentence_names_the_tower(traced, layer, channel, words):
    net, x, acts = traced
    u = av.trace_unit(net, x, layer, channel, 2, 2, acts=acts)
    assert words in UF.reads_sentence(u, net.arch)


def test_one_tower_has_no_gpu_words():
    net = av.load_network("torchvision", "untrained", device="cpu")
    x = torch.randn(1, 3, 224, 224)
    u = av.trace_unit(net, x, "conv2", 5, 3, 3)
    assert UF.reads_sentence(u, net.arch) == "reads all 64 channels of pool1"


@pytest.mark.parametrize("unit", [("conv2", 130, 10, 12), ("conv1", 5, 0, 54)])
def test_the_patches_picture_shows_each_patch_above_its_kernel_largest_term_first(traced, unit):
    net, x, acts = traced
    u = av.trace_unit(net, x, *unit, acts=acts)
    pic = UF.conv_patches_picture(u)
    idx = UF.top_channels(u)
    cols = min(4, len(idx))
    assert pic.channels == tuple(int(u.in_channels[i]) for i in idx), "largest |term| first, as the library orders"
    name = UF.COLOURS if u.source == "input" else None
    assert pic.titles == tuple(f"{name[u.in_channels[i]] if name else u.in_channels[i]}: {u.terms[i]:+.2g}"
                               for i in idx)
    f = pic.factor
    for j, i in enumerate(idx):
        (pt, pl, pb, pr), (kt, kl, kb, kr) = pic.patch_boxes[j], pic.kernel_boxes[j]
        assert kl == pl and kt > pb, "the kernel sits right below its patch"
        assert (pb - pt, pr - pl) == (kb - kt, kr - kl) == (u.patch[i].shape[0] * f, u.patch[i].shape[1] * f), \
            "square cells, as on the map"
        patch = pic.image[pt:pb:f, pl:pr:f]  # one pixel per cell
        np.testing.assert_array_equal(patch, render.colourise(u.patch[i], "viridis", u.patch[i].min(), u.patch[i].max()))
        kernel = pic.image[kt:kb:f, kl:kr:f].astype(int)
        w = u.weight[i]
        lim = float(np.abs(w).max())
        np.testing.assert_array_equal(kernel, render.colourise(w, "purple-white-green", -lim, lim))
        pos, neg = np.unravel_index(np.argmax(w), w.shape), np.unravel_index(np.argmin(w), w.shape)
        assert kernel[pos][1] > kernel[pos][0] and kernel[neg][0] > kernel[neg][1], "green adds, purple subtracts"
        assert (j % cols == 0) == (pl == min(b[1] for b in pic.patch_boxes)), f"{cols} channels to a row"
    assert pic.image.dtype == np.uint8 and pic.image.shape[2] == 3
