"""Attribution: every method's map, targets and contrasts, IG's completeness, the sanity check,
and above all that the shared network is never changed, even by hook-based methods running in
other threads or failing half-way.

Untrained networks (the paper's init) give tiny but real gradients, so these tests check
invariants — shapes, finiteness, non-zero maps, isolation, completeness — not meaning. Most
run on torchvision's variant at 64×64 (its adaptive pooling accepts small inputs; the methods
are the same code), a few on the 2012 network at 227×227.
"""
import math
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from alexnet_viz import attribution as A
from alexnet_viz.attribution import ATTRIBUTION_METHODS, Contrast, attribute, explain, sanity_check
from helpers import build_network

FAST = {  # small settings: enough to exercise each method
    "integrated_gradients": {"steps": 8},
    "smoothgrad": {"samples": 4},
    "occlusion": {"window": 32, "stride": 32},
    # an untrained conv5's Grad-CAM is all negative for some classes, so its ReLU'd product
    # with guided backprop is legitimately zero there; conv3 has a positive part
    "guided_grad_cam": {"layer": "conv3"},
}
# Captum announces, on every call, the ReLU hooks it sets (on our private copy)
pytestmark = pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU")
HOOKED = [name for name, m in ATTRIBUTION_METHODS.items() if m.uses_hooks]


@pytest.fixture(scope="module")
def tv():
    return build_network("torchvision")


@pytest.fixture(scope="module")
def net2012():
    return build_network("alexnet2012")


@pytest.fixture(scope="module")
def x64():
    return torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def x227():
    return torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(1)) * 50


# -- what "the shared network is untouched" means ---------------------------------------------
_GLOBAL_HOOKS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                 "_global_backward_pre_hooks", "_global_forward_hooks_always_called")


def hooks_on(net: nn.Module) -> list[str]:
    """Every hook anywhere on the module tree, its parameters, or torch's global module hooks."""
    found = []
    for name, module in net.named_modules():
        for attr, value in vars(module).items():
            if "hook" in attr and isinstance(value, dict) and value:
                found.append(f"{name or '<net>'}.{attr}")
    for name, p in net.named_parameters():
        if p._backward_hooks:
            found.append(f"{name}._backward_hooks")
    import torch.nn.modules.module as M

    found += [g for g in _GLOBAL_HOOKS if getattr(M, g, None)]
    return found


def snapshot(net):
    return {k: v.clone() for k, v in net.state_dict().items()}


def assert_untouched(net, before):
    assert hooks_on(net) == []
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "weights changed"
    assert not any(p.requires_grad for p in net.parameters()), "requires_grad changed"
    assert all(p.grad is None for p in net.parameters()), "gradients accumulated on weights"
    assert not net.training


# -- every method --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", list(ATTRIBUTION_METHODS))
def test_every_method_gives_a_finite_nonzero_map_and_leaves_the_network_alone(tv, x64, method):
    before = snapshot(tv)
    x_before = x64.clone()
    e = explain(tv, x64, method, target=3, **FAST.get(method, {}))
    assert e.map.shape == (64, 64)
    assert e.raw.shape == ((1, 64, 64) if method == "grad_cam" else (3, 64, 64))
    assert np.isfinite(e.raw).all() and np.abs(e.map).max() > 0
    assert np.allclose(e.map, e.raw.sum(0))
    assert e.target == 3 and e.target_label == tv.categories[3]
    assert torch.equal(x64, x_before) and not x64.requires_grad  # the caller's input is not touched
    assert_untouched(tv, before)


@pytest.mark.parametrize("method", ["saliency", "guided_backprop", "grad_cam"])
def test_the_2012_network_with_grouped_convs_at_227(net2012, x227, method):
    before = snapshot(net2012)
    m = attribute(net2012, x227, method, target=0)
    assert isinstance(m, torch.Tensor) and m.shape == (227, 227)
    assert torch.isfinite(m).all() and m.abs().max() > 0
    assert_untouched(net2012, before)


def test_attribute_is_the_map_of_explain(tv, x64):
    assert torch.equal(attribute(tv, x64, "saliency", 5), torch.from_numpy(explain(tv, x64, "saliency", 5).map))


def test_smoothgrad_without_noise_is_saliency(tv, x64):
    plain = explain(tv, x64, "saliency", 3).map
    assert np.allclose(explain(tv, x64, "smoothgrad", 3, noise=0.0, samples=2).map, plain, rtol=1e-4,
                       atol=1e-6 * np.abs(plain).max())
    assert not np.allclose(explain(tv, x64, "smoothgrad", 3, noise=0.5, samples=2).map, plain)


def test_an_explanation_can_be_cached_by_pickling(tv, x64):
    import pickle

    e = explain(tv, x64, "integrated_gradients", Contrast(1, 2), steps=4)
    back = pickle.loads(pickle.dumps(e))  # what st.cache_data does
    assert back.target == Contrast(1, 2) and np.array_equal(back.raw, e.raw) and back.delta == e.delta


def test_methods_really_differ(tv, x64):
    sal = explain(tv, x64, "saliency", 3).map
    gb = explain(tv, x64, "guided_backprop", 3).map
    de = explain(tv, x64, "deconvolution", 3).map
    assert not np.allclose(sal, gb) and not np.allclose(gb, de)


def test_grad_cam_layer_is_selectable_and_upsampled(tv, x64):
    c5 = explain(tv, x64, "grad_cam", 3)
    c1 = explain(tv, x64, "grad_cam", 3, layer="conv1")
    assert c5.params["layer"] == "relu5" and c5.layer_map.shape == (3, 3)  # the rectified maps, by default
    assert c1.layer_map.shape == (15, 15)  # conv1's output at 64×64
    assert c5.map.shape == c1.map.shape == (64, 64)
    assert not np.allclose(c5.map, c1.map)


@pytest.mark.parametrize("model,layer", [("alexnet2012", "conv5"), ("alexnet2012", "relu5"), ("alexnet2012", "conv2"),
                                         ("torchvision", "conv5"), ("torchvision", "relu3")])
def test_grad_cam_is_captums_layer_grad_cam(net2012, tv, model, layer):
    """Back-propagating only from the layer gives the very map Captum's hooks give."""
    from captum.attr import LayerGradCam

    net = net2012 if model == "alexnet2012" else tv
    x = torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(4)) * (50 if model == "alexnet2012" else 1)
    target = Contrast(3, 9)
    ours = explain(net, x, "grad_cam", target, layer=layer)
    copy_ = A.private_copy(net)
    module = copy_.body.get_submodule(net.arch.layer(layer).module)
    with torch.enable_grad():
        contrast = lambda z: (lambda logits: logits[:, 3] - logits[:, 9])(copy_(z))  # noqa: E731 - one pass
        cam = LayerGradCam(contrast, module).attribute(
            x.clone().requires_grad_(True), relu_attributions=False)  # (1, 1, h, w)
    # placed as the Feature maps page places a layer: each unit at its receptive field's centre
    from alexnet_viz.render.placement import upsample_to_input
    from alexnet_viz.walkthrough import layer_receptive_field

    up = upsample_to_input(cam[0, 0].detach().numpy(), 227, layer_receptive_field(layer, net.arch, 227))
    scale = np.abs(up).max()
    assert scale > 0 and np.abs(ours.map - up).max() <= 1e-5 * scale
    assert np.abs(ours.layer_map - cam[0, 0].detach().numpy()).max() <= 1e-5 * scale
    with torch.no_grad():
        logits = net(x)[0]
    assert ours.score == pytest.approx(float(logits[3] - logits[9]), rel=1e-5, abs=1e-6)


def test_grad_cam_puts_each_unit_where_it_looks(net2012):
    """conv5's strongest unit lands on its receptive field's centre, as on the Feature maps page
    (plain bilinear resizing put conv5's units up to 8.8 pixels away)."""
    from alexnet_viz.walkthrough import layer_receptive_field

    x = torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(5)) * 50
    e = explain(net2012, x, "grad_cam", 3, layer="conv5")
    rf = layer_receptive_field("conv5", net2012.arch, 227)
    i, j = np.unravel_index(np.argmax(e.layer_map), e.layer_map.shape)
    y, x_ = rf.start + rf.jump * i, rf.start + rf.jump * j
    assert e.map[int(round(y)), int(round(x_))] == pytest.approx(float(e.layer_map.max()), rel=1e-4)


def test_forward_from_a_layer_is_the_rest_of_the_network(tv, x64):
    acts = tv.activations(x64, upto="relu5")
    with torch.no_grad():
        assert torch.allclose(tv.forward_from("relu5", acts["relu5"]), tv(x64), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="no layer named"):
        tv.forward_from("conv9", acts["relu5"])


def test_target_defaults_to_the_top_prediction(tv, x64):
    with torch.no_grad():
        top = int(tv(x64).argmax())
    e = explain(tv, x64, "saliency")
    assert e.target == top
    with torch.no_grad():
        assert e.score == pytest.approx(float(tv(x64)[0, top]), rel=1e-5)


def test_contrast_attributes_the_difference_of_two_logits(tv, x64):
    a, b = 3, 7
    both = explain(tv, x64, "saliency", Contrast(a, b))
    assert both.target_label == f"{tv.categories[a]} rather than {tv.categories[b]}"
    with torch.no_grad():
        logits = tv(x64)[0]
    assert both.score == pytest.approx(float(logits[a] - logits[b]), rel=1e-4, abs=1e-6)
    # the gradient is linear in the objective: grad(a − b) = grad(a) − grad(b)
    diff = explain(tv, x64, "saliency", a).map - explain(tv, x64, "saliency", b).map
    assert np.allclose(both.map, diff, atol=1e-6 * np.abs(diff).max() + 1e-12, rtol=1e-3)
    assert explain(tv, x64, "saliency", (a, b)).target == Contrast(a, b)  # a pair works too


@pytest.mark.parametrize("target,match", [(1000, "not a class"), (-1, "not a class"),
                                          ((4, 4), "two different classes"), ((1, 2, 3), "pair")])
def test_bad_targets_are_sentences(tv, x64, target, match):
    with pytest.raises(ValueError, match=match):
        explain(tv, x64, "saliency", target)


@pytest.mark.parametrize("method,params,match", [
    ("magic", {}, "Unknown attribution method"),
    ("saliency", {"steps": 3}, "takes no parameters"),
    ("integrated_gradients", {"steps": 0}, "between 2 and 512"),
    ("integrated_gradients", {"baseline": "white"}, "black, blurred, mean"),
    ("smoothgrad", {"samples": 2.5}, "whole number"),
    ("grad_cam", {"layer": "fc6"}, "conv1, conv2"),
    ("occlusion", {"window": 8, "stride": 16}, "must not exceed its window"),
    ("occlusion", {"window": 100}, "larger than the image"),
])
def test_bad_methods_and_parameters_are_sentences(tv, x64, method, params, match):
    before = snapshot(tv)
    with pytest.raises(ValueError, match=match):
        explain(tv, x64, method, 0, **params)
    assert_untouched(tv, before)


def test_bad_input_shape_is_a_sentence(tv):
    with pytest.raises(ValueError, match="one image shaped"):
        explain(tv, torch.zeros(2, 3, 64, 64), "saliency", 0)


def test_occlusion_counts_its_passes(tv, x64):
    total = A.passes("occlusion", (64, 64), window=16, stride=8)
    assert total == 1 + 2  # one unoccluded pass, then (⌈48/8⌉+1)² = 49 windows in batches of 32


# -- occlusion by incremental inference -----------------------------------------------------------
def captum_occlusion(net, x, target, window, stride):
    """Captum's own Occlusion on the whole network, the reference: (H, W) float64."""
    from captum.attr import Occlusion

    with torch.no_grad():
        attr = Occlusion(lambda z: net(z)[:, target]).attribute(
            x, sliding_window_shapes=(3, window, window), strides=(3, stride, stride), baselines=0.0,
            perturbations_per_eval=16)
    return attr[0].sum(0).double().numpy()


def relative(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_occlusions_two_ways_of_cropping_give_the_same_crops():
    """The CPU crops by slices and a GPU by one indexing (tests/test_cuda.py runs that one in
    the engine): the same crops, blocks that overhang their crop included."""
    from alexnet_viz.attribution.occlusion import _gather_indexed, _gather_slices

    gen = torch.Generator().manual_seed(3)
    base = torch.randn(1, 5, 17, 19, generator=gen)  # padded by (1, 2)
    changed = torch.randn(4, 5, 6, 7, generator=gen)
    r_in, c_in = np.array([0, 3, 9, 10]), np.array([0, 5, 11, 12])
    top, left = np.array([0, 2, 6, 8]), np.array([0, 4, 9, 11])  # the last two blocks overhang
    args = (base, changed, r_in, c_in, top, left, (9, 8), (1, 2))
    a, b = _gather_slices(*args), _gather_indexed(*args)
    assert a.shape == (4, 5, 9, 8) and torch.equal(a, b)
    assert torch.equal(a[1, :, 2:8, 3:8], changed[1, :, :, :5]), "block 1 pasted at crop row 3 + 1 − 2, column 5 + 2 − 4"
    assert torch.equal(a[0, :, 0, 0], base[0, :, 0, 0]), "outside the block: the unoccluded values"


@pytest.mark.parametrize("side,window,stride", [
    (227, 57, 28),  # the last square overhangs the right and bottom border (196 + 57 > 227)
    (223, 57, 28),  # conv1 gives 54×54, so pool1's ceil mode adds an overhanging window
])
def test_occlusion_is_captums_map_on_the_2012_network(net2012, side, window, stride):
    x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(2)) * 50
    ours = explain(net2012, x, "occlusion", 3, window=window, stride=stride)
    ref = captum_occlusion(net2012, x, 3, window, stride)
    assert np.abs(ref).max() > 1e-3 * abs(ours.score)  # the drops are well above float rounding
    assert relative(ours.map, ref) <= 1e-4
    assert ours.extras["computed"] == ours.extras["positions"] == A.occlusion_windows((side, side), window, stride)


@pytest.mark.parametrize("window,stride", [(16, 8), (20, 12), (64, 64), (5, 3)])
def test_occlusion_is_captums_map_on_torchvision_in_double_precision(tv, window, stride):
    """Untrained torchvision's drops are ~1e-4 of its score, below float32's noise (Captum's own
    map is 1e-3 off in float32), so the algorithm is compared in float64: any region it failed
    to recompute would show as an error of order 1 (Captum accumulates its map in float32, so
    1e-6 is the floor here). Padded conv1, floor-mode pools, border overhang."""
    import copy

    net64 = copy.deepcopy(tv).double()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    from alexnet_viz.attribution.occlusion import drops_to_map, occlusion_drops

    _, drops = occlusion_drops(net64, x, lambda logits: logits[:, 5], window, stride, batch=7)
    ours = 3 * drops_to_map(drops, (64, 64), window, stride)  # the map sums the 3 colour channels
    assert relative(ours, captum_occlusion(net64, x, 5, window, stride)) <= 1e-6


def test_occlusion_of_a_contrast_is_the_difference_of_the_two_maps(tv, x64):
    a, b = (explain(tv, x64, "occlusion", t, window=32, stride=16).map for t in (3, 7))
    both = explain(tv, x64, "occlusion", (3, 7), window=32, stride=16).map
    assert np.allclose(both, a - b, atol=1e-3 * np.abs(a - b).max())


def test_approximate_occlusion_is_labelled_and_follows_the_exact_map():
    """On a smooth synthetic network (one conv averaging a blob, then a linear read-out) the
    drops vary smoothly with the square's position, which is what interpolation relies on."""
    from alexnet_viz.attribution.occlusion import approximate_drops, approximate_positions, drops_to_map, occlusion_drops
    from scipy.stats import spearmanr

    m = ATTRIBUTION_METHODS["occlusion"]
    mode = next(p for p in m.params if p.name == "mode")
    assert mode.default == "exact" and "approximate" in mode.choices
    assert "NOT the exact map" in mode.help and "approximate" in m.description
    net = build_network("torchvision")
    x = torch.zeros(1, 3, 96, 96)
    yy, xx = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    x[:, :] = torch.exp(-((yy - 40) ** 2 + (xx - 60) ** 2) / 300)  # one bright blob
    score = lambda logits: logits[:, 0]  # noqa: E731
    _, exact = occlusion_drops(net, x, score, 16, 4)  # (21, 21) positions
    approx, computed = approximate_drops(net, x, score, 16, 4)
    assert computed == approximate_positions((96, 96), 16, 4) == (21 * 21 + 1) // 2
    lattice = np.add.outer(np.arange(21), np.arange(21)) % 2 == 0
    assert np.allclose(approx[lattice], exact[lattice], rtol=1e-5, atol=1e-7), "computed where (row + column) is even"
    assert approx[3, 4] == pytest.approx(np.mean([approx[2, 4], approx[4, 4], approx[3, 3], approx[3, 5]]))
    assert approx[0, 1] == pytest.approx(np.mean([approx[1, 1], approx[0, 0], approx[0, 2]])), "three at a border"
    assert not np.allclose(approx[~lattice], exact[~lattice], rtol=1e-5, atol=1e-7), "the rest is interpolated"
    rho = spearmanr(drops_to_map(exact, (96, 96), 16, 4).ravel(), drops_to_map(approx, (96, 96), 16, 4).ravel())
    assert rho.statistic > 0.95
    e = explain(net, x, "occlusion", 0, window=16, stride=4, mode="approximate")
    assert e.extras["approximate"] and e.extras["computed"] == computed


@pytest.mark.parametrize("method,params", [
    ("occlusion", {"window": 16, "stride": 8}), ("occlusion", {"window": 16, "stride": 8, "mode": "approximate"}),
    ("integrated_gradients", {"steps": 20, "tolerance": 0}),
    ("smoothgrad", {"samples": 10}), ("guided_grad_cam", {}), ("saliency", {})])
def test_progress_counts_every_pass_up_to_the_announced_total(tv, x64, method, params):
    seen = []
    explain(tv, x64, method, 0, progress=lambda d, t: seen.append((d, t)), **params)
    total = A.passes(method, (64, 64), **params)
    # (0, total), one call per forward pass, then a final (total, total): the bar ends full,
    # and never sits at 100% while work remains
    assert seen == [(d, total) for d in range(total + 1)] + [(total, total)]


# -- integrated gradients -------------------------------------------------------------------------
@pytest.mark.parametrize("target", [3, Contrast(3, 7)])
def test_integrated_gradients_completeness_within_the_reported_delta(tv, x64, target):
    e = explain(tv, x64, "integrated_gradients", target, steps=32, baseline="mean", tolerance=0)
    with torch.no_grad():  # f(x) − f(baseline), computed here independently
        logits = tv(torch.cat([x64, torch.zeros_like(x64)]))
    f = logits[:, 3] - (logits[:, 7] if isinstance(target, Contrast) else 0)
    gap = float(f[0] - f[1])
    assert e.score == pytest.approx(float(f[0]), rel=1e-4)
    assert e.baseline_score == pytest.approx(float(f[1]), rel=1e-4)
    total = float(e.raw.astype(np.float64).sum())
    assert abs(total - gap - e.delta) <= 1e-3 * abs(gap) + 1e-6  # the delta is what it says
    assert abs(e.delta) < 0.05 * abs(gap)  # and with 32 steps the axiom nearly holds
    assert e.map.sum() == pytest.approx(total, rel=1e-3)


@pytest.mark.parametrize("model", ["alexnet2012", "torchvision"])
def test_integrated_gradients_reaches_the_asked_accuracy_or_says_why_not(net2012, tv, model):
    net = net2012 if model == "alexnet2012" else tv
    side = 227 if model == "alexnet2012" else 64
    x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(5)) * (50 if side == 227 else 1)
    seen = []
    e = explain(net, x, "integrated_gradients", 3, progress=lambda d, t: seen.append((d, t)), baseline="mean")
    r = e.extras
    gap = e.score - e.baseline_score
    assert r["error"] == pytest.approx(abs(e.delta) / abs(gap))
    assert abs(float(e.raw.astype(np.float64).sum()) - gap - e.delta) <= 1e-3 * abs(gap) + 1e-6
    assert 17 <= r["steps"] <= 128 and r["pieces"] == r["steps"] - 1 and r["note"]  # no point dropped
    if r["meaningful"] and not r["capped"]:
        assert r["error"] <= 0.01
    elif r["capped"]:
        assert "cap" in r["note"] and r["steps"] == 128
    else:
        assert "says nothing" in r["note"]
    assert seen[-1] == (seen[0][1], seen[0][1]) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    # a tighter tolerance never stops earlier
    tight = explain(net, x, "integrated_gradients", 3, baseline="mean", tolerance=0.001)
    assert tight.extras["steps"] >= r["steps"]


def test_integrated_gradients_reports_a_gap_too_small_to_judge():
    from alexnet_viz.attribution.integrated_gradients import integrated_gradients

    # seeded: for about 1 draw in 60, the two first pieces' errors cancel and the kinked path below
    # stops, rightly, at 2 pieces
    gen = torch.Generator().manual_seed(0)
    weights = torch.randn(1, 3, 8, 8, generator=gen)
    f = lambda z: 1e6 + (z * weights).sum((1, 2, 3))  # noqa: E731 - a linear score riding on a huge constant
    r = integrated_gradients(f, torch.randn(1, 3, 8, 8, generator=gen) * 1e-3, torch.zeros(1, 3, 8, 8))
    assert not r.meaningful and "says nothing" in r.note
    g = lambda z: (z ** 2 * weights).sum((1, 2, 3))  # noqa: E731 - g(α) linear along the path
    x = torch.randn(1, 3, 8, 8, dtype=torch.float64, generator=gen)
    r = integrated_gradients(g, x, torch.zeros_like(x), steps=2, tolerance=1e-9, max_steps=512)
    assert r.meaningful and not r.capped and r.error <= 1e-9  # the trapezoid is exact for a linear g
    assert r.steps == 3 and r.pieces == 2 and r.batches == 1
    h = lambda z: torch.relu(z - 0.3).sum((1, 2, 3))  # noqa: E731 - kinks along the path: pieces needed
    r = integrated_gradients(h, x.abs(), torch.zeros_like(x), steps=2, tolerance=1e-3, max_steps=512, split=2)
    assert r.error <= 1e-3 and r.pieces > 2 and not r.capped
    # every point is evaluated once and kept: halving a piece adds one point, and a round is one batch
    assert r.steps == r.pieces + 1 and r.batches == 1 + math.ceil((r.steps - 3) / 2)
    assert f"{r.steps} gradient evaluations in {r.batches} batched passes" in r.note
    r = integrated_gradients(h, x.abs(), torch.zeros_like(x), steps=2, tolerance=1e-9, max_steps=6)
    assert r.capped and "cap of 6" in r.note and r.steps == 6


def test_integrated_gradients_splits_where_the_path_is_rough():
    """The error is measured per piece, so new points go where g is rough: a score with one kink
    at α = 0.7 gets its points around 0.7 and leaves the smooth rest of the path alone."""
    from alexnet_viz.attribution.integrated_gradients import integrated_gradients

    x = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    f = lambda z: torch.relu(z - 0.7).sum((1, 2, 3)) + 0.5 * z.sum((1, 2, 3))  # noqa: E731
    r = integrated_gradients(f, x, torch.zeros_like(x), steps=4, tolerance=1e-4, max_steps=64, split=1)
    assert r.error <= 1e-4 and not r.capped
    # only the piece [0.5, 0.75] holds the kink: each round halves the piece around 0.7
    assert r.pieces == 4 + (r.steps - 5) and r.steps <= 5 + 12
    fixed = integrated_gradients(f, x, torch.zeros_like(x), steps=r.pieces, tolerance=0)
    assert fixed.error > r.error  # as many equal pieces do worse
    assert "fixed" in fixed.note and fixed.steps == r.pieces + 1


@pytest.mark.parametrize("model", ["alexnet2012", "torchvision"])
def test_integrated_gradients_after_the_first_convolution_is_the_same_attribution(net2012, tv, model):
    """The path walked after conv1 (its points cost no convolution, one transposed convolution at
    the end) gives the attribution of the path walked at the input, to float rounding."""
    from alexnet_viz.attribution.integrated_gradients import integrated_gradients

    net = net2012 if model == "alexnet2012" else tv
    side = 227 if model == "alexnet2012" else 64
    gen = torch.Generator().manual_seed(11)
    x, base = torch.randn(1, 3, side, side, generator=gen) * 2, torch.randn(1, 3, side, side, generator=gen)
    layer0, conv = net._steps[0]
    whole = lambda z: net(z)[:, 3]  # noqa: E731
    rest = lambda h: net.forward_from(layer0.name, h)[:, 3]  # noqa: E731
    a = integrated_gradients(whole, x, base, steps=6, tolerance=0)  # the same 7 points, both ways
    b = integrated_gradients(whole, x, base, steps=6, tolerance=0, first=conv, rest=rest)
    torch.testing.assert_close(b.attribution, a.attribution, rtol=1e-4, atol=1e-5 * float(a.attribution.abs().max()))
    # untrained logits are small (1e-3): their float32 rounding, 1e-6, is the scale of any difference
    assert (b.score, b.baseline_score) == pytest.approx((a.score, a.baseline_score), rel=1e-5, abs=2e-6)
    assert b.delta == pytest.approx(a.delta, rel=1e-2, abs=4e-6) and (b.steps, b.batches) == (7, 1)
    # adaptive: which piece is worst can turn on that rounding, so the points may differ; the accuracy not
    b = integrated_gradients(whole, x, base, steps=6, tolerance=0.01, first=conv, rest=rest)
    assert b.meaningful and not b.capped and b.error <= 0.01
    assert abs(float(b.attribution.double().sum()) - (b.score - b.baseline_score)) <= 0.01 * abs(b.score - b.baseline_score)
    if model == "alexnet2012":  # the split still refuses an input the network cannot take, in words
        with pytest.raises(ValueError, match="cannot run on a 300×300 input"):
            explain(net, torch.zeros(1, 3, 300, 300), "integrated_gradients", 3, steps=2)


def test_integrated_gradients_baselines(net2012, tv, x64):
    x = torch.randn(1, 3, 227, 227) * 50
    black = explain(net2012, x, "integrated_gradients", 0, steps=2, baseline="black").extras["baseline"]
    mean = torch.tensor(net2012.prep.mean).view(3, 1, 1)
    assert np.allclose(black, (-mean).expand(3, 227, 227).numpy())  # pixel value 0, normalised
    tv_black = explain(tv, x64, "integrated_gradients", 0, steps=2, baseline="black").extras["baseline"]
    expect = (-torch.tensor(tv.prep.mean) / torch.tensor(tv.prep.std)).view(3, 1, 1).expand(3, 64, 64)
    assert np.allclose(tv_black, expect.numpy(), atol=1e-6)
    assert not explain(tv, x64, "integrated_gradients", 0, steps=2, baseline="mean").extras["baseline"].any()
    blurred = explain(tv, x64, "integrated_gradients", 0, steps=2, baseline="blurred").extras["baseline"]
    assert blurred.std() < 0.5 * float(x64.std())  # noise blurred away
    assert abs(blurred.mean() - float(x64.mean())) < 0.05


# -- isolation: hooks never reach the shared network ----------------------------------------------
@pytest.mark.parametrize("method", HOOKED)
def test_no_hooks_on_the_shared_network_while_a_hook_based_method_runs(tv, x64, method):
    seen = []  # progress is called inside the forward pass, while Captum's hooks are attached
    explain(tv, x64, method, 0, progress=lambda d, t: seen.append(hooks_on(tv)))
    assert len(seen) >= 3 and all(h == [] for h in seen)


def test_the_hook_check_has_teeth(tv, x64, monkeypatch):
    """Without the private copy, the same check sees Captum's ReLU hooks on the shared net."""
    monkeypatch.setattr(A, "private_copy", lambda net: net)
    seen = []
    explain(tv, x64, "guided_backprop", 0, progress=lambda d, t: seen.append(hooks_on(tv)))
    assert any(h for h in seen)
    assert hooks_on(tv) == []  # Captum removed them afterwards


@pytest.mark.parametrize("method", HOOKED + ["saliency", "integrated_gradients"])
def test_a_forward_that_raises_midway_leaves_the_network_clean(net2012, method):
    before = snapshot(net2012)
    small = torch.zeros(1, 3, 100, 100)  # fails at fc6, after every conv ReLU has run (and been hooked)
    with pytest.raises(ValueError, match="cannot run on a 100×100 input"):
        explain(net2012, small, method, 0, **FAST.get(method, {}))
    assert_untouched(net2012, before)


@pytest.mark.parametrize("method", HOOKED)
def test_an_exception_from_the_progress_callback_leaves_the_network_clean(tv, x64, method):
    before = snapshot(tv)

    def stop(done, total):
        if done == 1:  # inside the first forward pass, hooks attached
            raise KeyboardInterrupt("the user navigated away")

    with pytest.raises(KeyboardInterrupt):
        explain(tv, x64, method, 0, progress=stop)
    assert_untouched(tv, before)


def test_private_copy_shares_weights_but_not_modules(tv):
    c = A.private_copy(tv)
    assert all(a is b for a, b in zip(c.parameters(), tv.parameters()))
    assert not any(a is b for a, b in zip(c.modules(), tv.modules()))
    assert all(m is c.body.get_submodule(layer.module) for layer, m in c._steps if m is not None)
    c.body.get_submodule("features.1").register_forward_hook(lambda *a: None)
    assert hooks_on(tv) == []


def test_threads_running_different_methods_get_what_each_gets_alone(tv, x64):
    methods = ["saliency", "guided_backprop", "grad_cam", "deconvolution"]
    alone = {m: explain(tv, x64, m, 3).map for m in methods}
    assert not np.allclose(alone["saliency"], alone["guided_backprop"])  # a leak would show
    before = snapshot(tv)
    failures, hooks_seen, stop = [], [], threading.Event()

    def run(method):
        try:
            for _ in range(4):
                if not np.array_equal(explain(tv, x64, method, 3).map, alone[method]):
                    failures.append(method)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(f"{method}: {exc!r}")

    def watch():
        while not stop.is_set():
            if hooks_on(tv):
                hooks_seen.append(hooks_on(tv))
            stop.wait(0.001)

    watcher = threading.Thread(target=watch)
    workers = [threading.Thread(target=run, args=(m,)) for m in methods]
    watcher.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    watcher.join()
    assert failures == [] and hooks_seen == []
    assert_untouched(tv, before)


# -- sanity check ---------------------------------------------------------------------------------
def test_sanity_check_randomises_a_private_copy_from_the_top_down(tv, x64):
    before = snapshot(tv)
    calls = []
    s = sanity_check(tv, x64, {"saliency": {}, "grad_cam": {"layer": "conv5"}}, target=3,
                     progress=lambda d, t: calls.append((d, t)))
    assert s.steps == ["original", "fc8", "fc7", "fc6", "conv5", "conv4", "conv3", "conv2", "conv1"]
    assert s.methods == ["saliency", "grad_cam"] and s.target == 3
    for m in s.methods:
        assert s.maps[m].shape == (9, 64, 64)
        assert s.correlation[m][0] == pytest.approx(1.0)
        params = {"layer": "conv5"} if m == "grad_cam" else {}
        assert np.array_equal(s.maps[m][0], explain(tv, x64, m, 3, **params).map)  # step 0 is the real network
    assert s.final("saliency") < 0.9  # randomising every layer changes the gradient
    assert calls[-1] == (18, 18)
    assert_untouched(tv, before)


def test_sanity_verdicts_count_a_map_gone_constant_as_changed():
    """A map that goes flat (NaN correlation) in the top half has changed: it is neither
    "slow to change" nor "insensitive"."""
    steps = ["original", "fc8", "fc7", "fc6", "conv5", "conv4", "conv3", "conv2", "conv1"]
    corr = {"flat": np.array([1, 0.9, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan]),
            "late": np.array([1, 0.9, 0.9, 0.8, 0.8, 0.7, 0.4, 0.3, 0.2]),
            "never": np.array([1, 0.9, 0.9, 0.8, 0.8, 0.7, 0.6, 0.6, 0.6]),
            "early": np.array([1, 0.2, 0.1, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0])}
    s = A.SanityCheck(steps, list(corr), {}, corr, corr, 0, "x")
    assert [s.changed_at(m) for m in corr] == [2, 6, None, 1]
    assert s.insensitive() == ["never"]
    assert s.slow_to_change() == ["late"]
    assert A.sanity_steps(build_network("torchvision")) == steps


def test_sanity_check_rejects_bad_methods_before_any_work(tv, x64):
    with pytest.raises(ValueError, match="Unknown attribution method"):
        sanity_check(tv, x64, ["saliency", "nope"], target=0)
    with pytest.raises(ValueError, match="at least one"):
        sanity_check(tv, x64, [], target=0)


# -- finding classes ------------------------------------------------------------------------------
def test_find_class_by_index_name_or_unique_substring(tv):
    cats = tv.categories
    assert A.find_class(cats, "5") == 5
    assert A.find_class(cats, "Tabby") == cats.index("tabby")  # exact, case-insensitive
    assert A.find_class(cats, "golden retr") == cats.index("golden retriever")
    with pytest.raises(ValueError, match="be more specific"):
        A.find_class(cats, "cat")
    with pytest.raises(ValueError, match="No class is called"):
        A.find_class(cats, "zzzz")
    with pytest.raises(ValueError, match="0 to 999"):
        A.find_class(cats, "1000")
    with pytest.raises(ValueError, match=r"names 2 classes \(264, 474\)"):
        A.find_class(cats, "cardigan")  # the corgi and the sweater


def test_registry_describes_every_method_for_a_page():
    assert list(ATTRIBUTION_METHODS) == [
        "saliency", "integrated_gradients", "smoothgrad", "input_x_gradient", "guided_backprop",
        "deconvolution", "grad_cam", "guided_grad_cam", "occlusion"]
    for m in ATTRIBUTION_METHODS.values():
        assert m.title and m.description and m.cost and m.sign in ("positive", "negative", "absolute", "signed")
        assert m.resolve({}) == m.defaults()
    ig = ATTRIBUTION_METHODS["integrated_gradients"]
    assert ig.defaults()["baseline"] == "black" and set(p.name for p in ig.params) >= {"steps", "baseline"}
    # Grad-CAM needs no hooks since it starts the backward pass at its layer (see below)
    assert set(HOOKED) == {"guided_backprop", "deconvolution", "guided_grad_cam"}


def test_a_new_method_is_one_registry_entry(tv, x64, monkeypatch):
    """Its runner, pass count and parameter check travel with it: explain needs nothing else."""
    def run(f, x, p, layer):
        f(x)  # one counted forward pass
        return {"raw": torch.full_like(x, p["level"])}

    def check(p, size):
        if p["level"] > size[0]:
            raise ValueError("level above the image side")

    flat = A.Method("flat", "Flat", "The same value everywhere.", (A.Param("level", "float", 2.0, 0.0, 1e3),),
                    run=run, count=lambda p, size: 1, check=check)
    monkeypatch.setitem(ATTRIBUTION_METHODS, "flat", flat)
    seen = []
    e = explain(tv, x64, "flat", 0, progress=lambda d, t: seen.append((d, t)), level=3.0)
    assert e.raw.shape == (3, 64, 64) and (e.map == 9.0).all() and A.passes("flat", (64, 64)) == 1
    assert seen == [(0, 1), (1, 1), (1, 1)]
    with pytest.raises(ValueError, match="above the image side"):
        explain(tv, x64, "flat", 0, level=100.0)


def test_captums_hook_warning_is_silenced_only_while_a_method_runs(tv, x64):
    code = ("import warnings, alexnet_viz; assert not [f for f in warnings.filters if f[1] and "
            "f[1].match('Setting backward hooks on ReLU activations')], 'a process-wide filter at import'")
    subprocess.run([sys.executable, "-c", code], check=True)
    before = list(warnings.filters)
    explain(tv, x64, "guided_backprop", 0)
    assert warnings.filters == before


# -- the command line -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_cli_lists_the_methods(capsys):
    from alexnet_viz.cli import main

    assert main(["saliency", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ATTRIBUTION_METHODS)
    assert "steps=16" in out and "tolerance=0.01" in out and "layer=relu5" in out


def test_cli_writes_the_overlay_png_and_the_numbers(photo, tmp_path, capsys):
    from PIL import Image

    from alexnet_viz.cli import main

    out, npy = tmp_path / "map.png", tmp_path / "map.npy"
    rc = main(["saliency", str(photo), "--method", "grad_cam", "--param", "layer=conv4",
               "--target", "Golden Retr", "--model", "torchvision", "--weights", "untrained",
               "--out", str(out), "--npy", str(npy)])
    assert rc == 0
    assert Image.open(out).size == (224, 224)  # the crop the network saw
    assert np.load(npy).shape == (1, 224, 224)
    assert "golden retriever" in capsys.readouterr().out


def test_cli_contrast_on_the_2012_network(photo, tmp_path, capsys):
    from PIL import Image

    from alexnet_viz.cli import main

    out = tmp_path / "why.png"
    rc = main(["saliency", str(photo), "--method", "saliency", "--target", "3", "--versus", "tabby",
               "--weights", "untrained", "--out", str(out)])
    assert rc == 0 and Image.open(out).size == (227, 227)
    assert "rather than tabby" in capsys.readouterr().out


@pytest.mark.parametrize("argv,match", [
    (["--target", "zzzz"], "No class is called 'zzzz'"),
    (["--target", "cat"], "be more specific"),
    (["--method", "magic"], "Unknown attribution method"),
    (["--param", "steps"], "NAME=VALUE"),
    (["--method", "integrated_gradients", "--param", "steps=many"], "must be a number"),
    (["--versus", "3"], "needs --target"),
    (["--weights", "pretrained"], ""),  # offline: a weights error, one line
])
def test_cli_mistakes_exit_2_with_one_line(photo, tmp_path, capsys, argv, match):
    from alexnet_viz.cli import main

    args = ["saliency", str(photo), "--model", "torchvision", "--out", str(tmp_path / "x.png")]
    if "--weights" not in argv:
        args += ["--weights", "untrained"]
    assert main(args + argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("alexnet-viz saliency: ") and err.count("\n") == 1 and match in err
    assert not (tmp_path / "x.png").exists()


def test_cli_needs_an_image_and_an_output(photo, capsys):
    from alexnet_viz.cli import main

    assert main(["saliency"]) == 2
    assert "give an image" in capsys.readouterr().err
    assert main(["saliency", str(photo), "--weights", "untrained"]) == 2
    assert "--out" in capsys.readouterr().err
