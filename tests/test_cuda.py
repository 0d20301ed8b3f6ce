"""The GPU path: what runs on CUDA gives what the CPU gives. Skipped without a CUDA GPU (CI has
none); run on a GPU machine with ``pytest tests/test_cuda.py tests/test_network.py
tests/test_towers.py``. As in the app and the command line, TF32 is off (conftest.py; see
``alexnet_viz.full_float32``), so tolerances allow only for the GPU's own summation order; the
last test measures what TF32 would change."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

import alexnet_viz as av
from alexnet_viz.attribution import ATTRIBUTION_METHODS, explain
from alexnet_viz.live import LiveProcessor

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="No CUDA GPU is visible to torch here: these tests run on a machine with one.")
MODELS = ("alexnet2012", "torchvision")
# integrated gradients: its own tests below
CHEAP = {"integrated_gradients": {"steps": 16, "tolerance": 0.0}, "smoothgrad": {"samples": 4},
         "occlusion": {"window": 57, "stride": 28}}


@pytest.fixture(scope="module")
def pairs() -> dict[str, tuple[av.Network, av.Network]]:
    """Each variant's untrained network (fixed seed: the same weights) on the CPU and on the GPU."""
    return {m: (av.load_network(m, "untrained", device="cpu"), av.load_network(m, "untrained", device="cuda"))
            for m in MODELS}


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    return Image.fromarray(skimage.data.chelsea())


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("model", MODELS)
def test_every_activation_on_the_gpu_is_the_cpus(pairs, cat, model):
    cpu, gpu = pairs[model]
    assert gpu.device.type == "cuda" and next(gpu.parameters()).device.type == "cuda"
    x = cpu.preprocess(cat)
    xg = gpu.preprocess(cat)
    assert xg.device.type == "cuda"
    torch.testing.assert_close(xg.cpu(), x, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        a, b = cpu.activations(x), gpu.activations(xg)
    assert list(a) == list(b)
    for name in a:
        assert b[name].device.type == "cuda"
        assert relative(b[name].cpu().numpy(), a[name].numpy()) <= 1e-3, name
    assert [i for i, *_ in gpu.predict(xg)] == [i for i, *_ in cpu.predict(x)]


@pytest.mark.parametrize("method", list(ATTRIBUTION_METHODS))
def test_every_attribution_method_on_the_gpu_is_the_cpus(pairs, method):
    cpu, gpu = pairs["alexnet2012"]
    x = torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(5)) * 50
    a = explain(cpu, x, method, 3, **CHEAP.get(method, {}))
    b = explain(gpu, x.cuda(), method, 3, **CHEAP.get(method, {}))
    assert b.map.shape == a.map.shape and np.isfinite(b.map).all()
    assert abs(b.score - a.score) <= 1e-2 * abs(a.score)
    # smoothgrad's noise comes from each device's own generator
    if method not in ("smoothgrad", "integrated_gradients"):
        assert relative(b.map, a.map) <= 1e-3, method


def test_integrated_gradients_on_the_gpu_is_the_cpus_in_float64(pairs):
    """The same fixed 17-point rule in float64 on both devices, walked after conv1 as explain walks
    it and, on the GPU, through the whole network too: the same numbers (an H100: 8e-16).

    In float32 the maps of this input differ by percent (an H100: 3.8% from float64, its CPU 0.26%),
    on either device: at a few points of the path a ReLU or max-pooling choice sits within
    rounding of its edge and flips, which moves that point's gradient by 2.5–5.6% where it
    otherwise agrees with float64 to 1e-6 (the H100 flipped at α = 1/16, 2/16, 9/16, its CPU at
    1/16, 2/16, 4/16, 13/16). So float32 is checked loosely, against float64."""
    from alexnet_viz.attribution.integrated_gradients import integrated_gradients

    cpu, gpu = pairs["alexnet2012"]
    x = torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(5)) * 50
    a = explain(cpu, x, "integrated_gradients", 3, steps=16, tolerance=0.0)
    b = explain(gpu, x.cuda(), "integrated_gradients", 3, steps=16, tolerance=0.0)
    base = torch.from_numpy(a.extras["baseline"])[None].double()

    def walk(net, device, split):
        n = copy.deepcopy(net).double()
        layer0, conv = n._steps[0]
        more = dict(first=conv, rest=lambda h: n.forward_from(layer0.name, h)[:, 3]) if split else {}
        r = integrated_gradients(lambda z: n(z)[:, 3], x.double().to(device), base.to(device), steps=16,
                                 tolerance=0, **more)
        return r.attribution.sum(1)[0].cpu().numpy()

    ref = walk(cpu, "cpu", True)
    assert relative(walk(gpu, "cuda", True), ref) <= 1e-9
    assert relative(walk(gpu, "cuda", False), ref) <= 1e-9
    print(f"integrated gradients in float32, relative to float64: CPU {relative(a.map, ref):.2e}, "
          f"GPU {relative(b.map, ref):.2e}")
    assert relative(a.map, ref) <= 0.1 and relative(b.map, ref) <= 0.1


def test_integrated_gradients_on_the_gpu_reaches_the_completeness_it_was_asked_for(pairs):
    _, gpu = pairs["alexnet2012"]
    x = torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(5)) * 50
    e = explain(gpu, x.cuda(), "integrated_gradients", 3, tolerance=0.01)
    assert e.extras["meaningful"] and not e.extras["capped"]
    assert e.extras["error"] <= 0.01
    gap = e.score - e.baseline_score
    assert abs(float(e.map.sum()) - gap) <= 0.011 * abs(gap)  # the map itself adds up to the gap


def test_occlusion_by_incremental_inference_is_captums_map_on_the_gpu(pairs):
    """Against Captum in float64 on the GPU. Both float32 maps are differences of nearly equal
    scores, so each carries the float32 rounding of the score: on the CPU, for this input, ours and
    Captum's float32 map are each 6.6e-5 off the float64 map (1.4e-5 apart); on an H100 they came
    1.1e-4 apart. Ours may be at most 1.5 times as far from the float64 map as Captum's own float32 map is, or 1e-4."""
    from captum.attr import Occlusion

    _, gpu = pairs["alexnet2012"]
    x = (torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(2)) * 50).cuda()
    ours = explain(gpu, x, "occlusion", 3, window=31, stride=8)

    def captum(net, z):
        with torch.no_grad():
            return Occlusion(lambda q: net(q)[:, 3]).attribute(
                z, sliding_window_shapes=(3, 31, 31), strides=(3, 8, 8), baselines=0.0,
                perturbations_per_eval=32)[0].sum(0).double().cpu().numpy()

    exact = captum(copy.deepcopy(gpu).double(), x.double())
    peer = captum(gpu, x)
    print(f"occlusion on the GPU, relative to float64: ours {relative(ours.map, exact):.2e}, "
          f"Captum float32 {relative(peer, exact):.2e}; ours to Captum {relative(ours.map, peer):.2e}")
    assert relative(ours.map, exact) <= max(1e-4, 1.5 * relative(peer, exact))


@pytest.mark.parametrize("model", MODELS)
def test_the_live_view_runs_on_the_gpu_and_agrees_with_the_cpu(pairs, cat, model):
    cpu, gpu = pairs[model]
    frame = np.asarray(cat.resize((640, 480)))
    a, b = LiveProcessor(cpu).process(frame), LiveProcessor(gpu).process(frame)
    assert [i for i, *_ in b.top] == [i for i, *_ in a.top]
    assert b.maps.shape == a.maps.shape and relative(b.maps, a.maps) <= 1e-3


def test_a_units_computation_on_the_gpu_adds_up_to_its_value(pairs, cat):
    _, gpu = pairs["alexnet2012"]
    x = gpu.preprocess(cat)
    with torch.no_grad():
        acts = gpu.activations(x)
    u = av.trace_unit(gpu, x, "conv2", channel=130, row=10, col=12, acts=acts)
    assert u.in_channels == range(48, 96)
    assert abs(float(u.terms.sum() + u.bias) - float(u.value)) <= 1e-4 * max(abs(float(u.value)), 1e-3)


def test_tf32_moves_the_gpus_gradients_by_percent_and_full_float32_turns_it_off(pairs):
    """Why the app and the command line call full_float32: with cuDNN's default TF32 a saliency
    map on an H100 was up to 8% off the CPU's (correlation 0.997); without it, 1e-6."""
    cpu, gpu = pairs["alexnet2012"]
    x = torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(5)) * 50
    a = explain(cpu, x, "saliency", 3)
    torch.backends.cudnn.allow_tf32 = True
    try:
        b = explain(gpu, x.cuda(), "saliency", 3)
    finally:
        av.full_float32()
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    c = explain(gpu, x.cuda(), "saliency", 3)
    tf32, full = relative(b.map, a.map), relative(c.map, a.map)
    print(f"saliency on the GPU vs the CPU: TF32 {tf32:.2e}, full float32 {full:.2e}")
    assert full <= 1e-4 and np.corrcoef(a.map.ravel(), c.map.ravel())[0, 1] > 0.99999
    assert np.corrcoef(a.map.ravel(), b.map.ravel())[0, 1] > 0.99  # TF32 moves it, but not beyond recognition
