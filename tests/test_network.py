"""The network: activations in one pass, no hooks, frozen weights, Caffe's LRN, the towers,
the paper's initialisation, preprocessing and devices."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import AlexNet_Weights

import alexnet_viz as av
from alexnet_viz import weights as W
from alexnet_viz.network import Network, pick_device
from helpers import deprocess

ALEXNET2012_ORDER = [
    "conv1", "relu1", "norm1", "pool1", "conv2", "relu2", "norm2", "pool2", "conv3", "relu3",
    "conv4", "relu4", "conv5", "relu5", "pool5", "fc6", "relu6", "fc7", "relu7", "fc8"]


@pytest.fixture(scope="module")
def net() -> Network:
    return av.load_network("alexnet2012", weights="untrained", device="cpu")


@pytest.fixture(scope="module")
def tv() -> Network:
    return av.load_network("torchvision", weights="untrained", device="cpu")


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(1, 3, 227, 227, generator=torch.Generator().manual_seed(1)) * 50  # (1, 3, 227, 227)


@pytest.fixture(scope="module")
def acts(net, x) -> dict[str, torch.Tensor]:
    return net.activations(x)


def solid(colour: tuple[int, int, int], size=(400, 300)) -> Image.Image:
    return Image.new("RGB", size, colour)


# -- activations -------------------------------------------------------------------------------
def test_activations_come_in_forward_order_and_end_in_the_logits(net, x, acts):
    assert list(acts) == ALEXNET2012_ORDER
    assert torch.equal(acts["fc8"], net(x))
    assert acts["conv1"].shape == (1, 96, 55, 55) and acts["pool5"].shape == (1, 256, 6, 6)
    assert (acts["relu1"] >= 0).all() and (acts["conv1"] < 0).any()  # relu's output is not conv's tensor


def test_torchvision_activations_include_its_adaptive_pool_and_match_its_own_forward(tv):
    x = torch.randn(1, 3, 224, 224)
    acts = tv.activations(x)
    assert list(acts)[:2] == ["conv1", "relu1"] and "avgpool" in acts and list(acts)[-1] == "fc8"
    assert torch.allclose(acts["fc8"], tv.body(x), atol=1e-5)  # torchvision's own forward


def test_activations_can_stop_early_and_refuse_an_unknown_layer(net, x, acts):
    early = net.activations(x, upto="conv2")
    assert list(early) == ALEXNET2012_ORDER[:5] and torch.equal(early["conv2"], acts["conv2"])
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        net.activations(x, upto="conv9")


def all_hooks(module: torch.nn.Module) -> list:
    found = []
    for name, m in module.named_modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            found += [(name, attr)] * len(getattr(m, attr))
    return found


def test_no_hooks_are_left_on_any_module_and_weights_never_collect_gradients(net, x):
    inp = x.clone().requires_grad_(True)
    net.activations(inp)["conv5"].sum().backward()
    net(inp)[0, 3].backward()
    net.predict(x, top=3)
    assert all_hooks(net) == []
    assert inp.grad is not None and inp.grad.abs().sum() > 0  # attribution needs input gradients
    assert all(not p.requires_grad and p.grad is None for p in net.parameters())
    assert not any(m.training for m in net.modules())  # eval mode: dropout off


def test_one_network_serves_several_threads_at_once(net, x, acts):
    from concurrent.futures import ThreadPoolExecutor

    inputs = [x * (i + 1) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda inp: net.activations(inp)["fc8"], inputs))
    assert torch.allclose(together[0], acts["fc8"], rtol=1e-5, atol=1e-6)
    assert all(torch.allclose(t, net(inp), rtol=1e-5, atol=1e-6) for t, inp in zip(together, inputs))
    assert all_hooks(net) == []


@pytest.mark.parametrize("model", ["alexnet2012", "torchvision"])
def test_activations_register_no_hook_and_run_each_layer_once(model, monkeypatch):
    """Not only "no hook left behind": none is ever registered, and one pass runs each module once."""
    network = av.load_network(model, weights="untrained", device="cpu")
    x = torch.randn(1, 3, network.prep.crop, network.prep.crop)

    def refuse(*args, **kwargs):
        raise AssertionError("activations() registered a hook")

    for name in ("register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
                 "register_full_backward_pre_hook", "register_backward_hook"):
        monkeypatch.setattr(torch.nn.Module, name, refuse)
    for name in ("register_module_forward_hook", "register_module_forward_pre_hook"):
        monkeypatch.setattr(torch.nn.modules.module, name, refuse)
    calls: dict[str, int] = {}
    leaves = {m: n for n, m in network.body.named_modules() if not list(m.children())}
    original_call = torch.nn.Module.__call__

    def counting_call(self, *args, **kwargs):
        if self in leaves:
            calls[leaves[self]] = calls.get(leaves[self], 0) + 1
        return original_call(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", counting_call)
    acts = network.activations(x)
    assert calls == {name: 1 for name in leaves.values()}  # every layer, once: one forward pass
    assert len(acts) >= 15


def test_dropout_is_inactive_so_two_passes_agree(net, x):
    assert torch.equal(net(x), net(x))


def test_lrn_matches_caffes_formula_computed_by_hand(acts):
    a = acts["relu1"][0].double().numpy()  # (96, 55, 55)
    n, alpha, beta, k = 5, 1e-4, 0.75, 1.0
    sq = np.pad(a ** 2, ((2, 2), (0, 0), (0, 0)))  # zero channels beyond both ends, as Caffe
    window = sum(sq[i:i + a.shape[0]] for i in range(n))  # Σ over channels c-2 .. c+2
    expected = a / (k + alpha / n * window) ** beta
    got = acts["norm1"][0].double().numpy()
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, a, rtol=1e-3)  # the inputs are large enough for LRN to matter


def test_grouped_layers_keep_the_towers_apart_and_conv3_mixes_them(net, acts):
    body = net.body

    def effect(layer: str, inp: torch.Tensor) -> tuple[float, float]:
        """How much each half of layer's output changes when the second half of its input is zeroed."""
        cut = inp.clone()
        cut[:, inp.shape[1] // 2:] = 0  # GPU 2's channels
        before, after = body.get_submodule(layer)(inp), body.get_submodule(layer)(cut)
        half = before.shape[1] // 2
        return ((after - before)[:, :half].abs().max().item(), (after - before)[:, half:].abs().max().item())

    for layer, inp in (("conv2", "pool1"), ("conv4", "relu3"), ("conv5", "relu4")):
        gpu1, gpu2 = effect(layer, acts[inp])
        assert gpu1 == 0 and gpu2 > 0, layer
    gpu1, gpu2 = effect("conv3", acts["pool2"])
    assert gpu1 > 0 and gpu2 > 0


def test_caffes_lrn_window_crosses_the_tower_boundary_at_channels_46_to_49(net, acts):
    cut = acts["relu1"].clone()
    cut[:, 48:] = 0
    changed = (net.body.norm1(cut) - acts["norm1"])[0, :48].abs().amax(dim=(1, 2))  # (48,)
    assert changed.nonzero().flatten().tolist() == [46, 47]


# -- weights -------------------------------------------------------------------------------------
def test_untrained_is_reproducible_and_follows_the_papers_initialisation(net):
    again = av.load_network("alexnet2012", weights="untrained", device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    for name in ("conv1", "conv3", "fc6", "fc8"):
        w = net.body.get_submodule(name).weight
        assert w.std().item() == pytest.approx(0.01, rel=0.02) and abs(w.mean().item()) < 1e-3, name
    biases = {name: set(net.body.get_submodule(name).bias.unique().tolist())
              for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")}
    assert biases == {"conv1": {0.0}, "conv2": {1.0}, "conv3": {0.0}, "conv4": {1.0}, "conv5": {1.0},
                      "fc6": {1.0}, "fc7": {1.0}, "fc8": {0.0}}
    assert net.weights == "untrained" and net.weights_error is None


def test_a_weights_error_is_raised_or_falls_back_with_its_sentence(monkeypatch):
    def unavailable(*args, **kwargs):
        raise W.WeightsError("The pretrained weights are not in the cache and this machine is offline.")

    monkeypatch.setattr(W, "state_dict_for", unavailable)
    with pytest.raises(av.WeightsError, match="offline"):
        av.load_network("keras-tutorial", weights="pretrained", device="cpu")
    net = av.load_network("keras-tutorial", weights="pretrained", device="cpu", fallback_to_untrained=True)
    assert net.weights == "untrained" and "offline" in net.weights_error


# -- input ---------------------------------------------------------------------------------------
def test_alexnet2012_input_is_rgb_0_to_255_minus_the_ilsvrc_mean(net):
    colour = (200, 30, 90)
    x = net.preprocess(solid(colour))
    assert x.shape == (1, 3, 227, 227) and x.dtype == torch.float32
    for c, (value, mean) in enumerate(zip(colour, (122.68, 116.67, 104.01))):
        assert torch.allclose(x[0, c], torch.tensor(value - mean), atol=1e-4), c  # R first, not B
    assert torch.allclose(deprocess(net, x), torch.tensor(colour).view(1, 3, 1, 1) / 255, atol=1e-6)


def test_alexnet2012_crop_is_the_centre_227_of_the_image_at_256(net):
    rgb = np.zeros((256, 512, 3), np.uint8)  # already 256 on the short side: no resampling
    rgb[..., 0] = np.arange(512)[None, :] // 2  # red tells the column
    rgb[..., 1] = np.arange(256)[:, None]  # green tells the row
    x = net.preprocess(Image.fromarray(rgb))[0]  # (3, 227, 227)
    got = (x + torch.tensor([122.68, 116.67, 104.01]).view(3, 1, 1)).round().permute(1, 2, 0).numpy()
    # Centred: 14 or 15 rows above (29 spare), 142 or 143 columns to the left (285 spare).
    assert any(np.array_equal(got[..., :2], rgb[top:top + 227, left:left + 227, :2])
               for top in (14, 15) for left in (142, 143))


def test_alexnet2012_resizes_the_shorter_side_to_256_before_cropping(net):
    img = Image.new("RGB", (1024, 512), "white")
    img.paste((0, 0, 0), (412, 156, 612, 356))  # a centred 200-pixel black square
    assert net.view(img).size == (227, 227)
    dark = (net.preprocess(img)[0, 0] + 122.68 < 128).sum().item()
    assert abs(dark - 100 * 100) < 300  # halved to 100 pixels: 256/512 (227/512 would give ~7,900)
    tall = net.preprocess(Image.new("RGB", (300, 900), "white"))
    assert tall.shape == (1, 3, 227, 227)
    seen = net.view(Image.new("RGBA", (300, 900), (10, 20, 30, 255)))
    assert (seen.mode, seen.size, seen.getpixel((100, 100))) == ("RGB", (227, 227), (10, 20, 30))


def test_torchvision_input_is_its_weights_own_transform(tv):
    rgb = np.random.default_rng(0).integers(0, 256, (300, 380, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    expected = AlexNet_Weights.IMAGENET1K_V1.transforms()(img)
    got = tv.preprocess(img)
    assert got.shape == (1, 3, 224, 224) and torch.equal(got[0], expected)
    seen = torch.from_numpy(np.array(tv.view(img))).permute(2, 0, 1).float() / 255  # (3, 224, 224)
    assert torch.allclose(deprocess(tv, got)[0], seen, atol=1e-5)  # deprocess undoes the normalisation


def test_predict_gives_sorted_probabilities_with_imagenet_labels(net, x):
    top = net.predict(x, top=5)
    assert len(top) == 5 and [p for *_, p in top] == sorted((p for *_, p in top), reverse=True)
    assert all(net.categories[i] == label for i, label, _ in top)
    assert 0 < sum(p for *_, p in top) <= 1
    assert len(net.categories) == 1000 and net.categories == av.class_names("torchvision")
    with pytest.raises(ValueError, match="at least 1"):
        net.predict(x, top=0)
    assert av.class_names("keras-tutorial")[0] == "daffodil" and len(av.class_names("keras-tutorial")) == 17
    with pytest.raises(ValueError, match="Unknown model 'vgg'"):
        av.class_names("vgg")


@pytest.mark.parametrize("shape,match", [
    ((1, 3, 256, 256), "cannot run on a 256×256 input: its first fc layer expects 9216 inputs"),
    ((1, 3, 10, 10), "cannot run on a 10×10 input: the input is too small: conv1 needs at least 11 pixels"),
    ((3, 227, 227), r"takes a batch of 3-channel images shaped \(N, 3, H, W\)"),
    ((1, 1, 227, 227), r"this tensor is shaped \(1, 1, 227, 227\)"),
])
def test_an_input_the_net_cannot_take_gets_a_sentence(net, shape, match):
    with pytest.raises(ValueError, match=match):
        net(torch.zeros(shape))


# -- device --------------------------------------------------------------------------------------
def test_auto_device_picks_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")


def test_an_explicit_device_is_honoured_or_refused_with_a_sentence(monkeypatch, net):
    assert pick_device("cpu") == torch.device("cpu") and net.device == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="this machine has no CUDA GPU; use auto or cpu"):
        av.load_network("alexnet2012", weights="untrained", device="cuda")
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        pick_device("gpu")


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="No CUDA GPU is visible to torch here (the CPU path is tested above).")
def test_on_a_gpu_the_network_and_its_inputs_live_there():
    gpu = av.load_network("alexnet2012", weights="untrained", device="auto")
    assert gpu.device.type == "cuda"
    x = gpu.preprocess(solid((10, 20, 30)))
    assert x.device.type == "cuda" and gpu.activations(x)["fc8"].device.type == "cuda"
    cpu = av.load_network("alexnet2012", weights="untrained", device="cpu")
    assert torch.allclose(gpu(x).cpu(), cpu(x.cpu()), atol=1e-3)


def test_importing_the_library_does_not_import_streamlit():
    root = Path(__file__).resolve().parents[1]
    code = "import sys, alexnet_viz; assert 'streamlit' not in sys.modules, 'alexnet_viz imported streamlit'"
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- preprocessing modes (aspect: the default; warp: Caffe's reference pipeline) ---------------------
@pytest.mark.parametrize("model", ["alexnet2012", "torchvision"])
def test_warp_mode_squashes_the_whole_image_into_the_crop(model):
    import numpy as np
    from PIL import Image

    net = av.load_network(model, "untrained", device="cpu")
    wide = np.zeros((200, 600, 3), np.uint8)
    wide[:, :100] = 255  # a white band on the far left: cropped away by aspect, kept by warp
    img = Image.fromarray(wide)
    crop = net.prep.crop
    aspect, warp = np.asarray(net.view(img)), np.asarray(net.view(img, mode="warp"))
    assert aspect.shape == warp.shape == (crop, crop, 3)
    assert aspect.max() == 0 and warp[:, :5].min() > 200
    x = net.preprocess(img, mode="warp")
    assert tuple(x.shape) == (1, 3, crop, crop)
    assert not torch.allclose(x, net.preprocess(img))
    with pytest.raises(ValueError, match="aspect or warp"):
        net.preprocess(img, mode="stretch")


@pytest.mark.parametrize("sample", ["chelsea", "coffee", "rocket", "astronaut"])
def test_warp_resizes_as_caffe_does_with_opencvs_bilinear(sample):
    """Caffe's tools resize with OpenCV's INTER_LINEAR (no antialiasing) to 256×256, then take the
    centre 227 at offset 14. PIL's antialiased bilinear was 1.2-2.3 grey levels off on average, up to
    31-119, on these photos."""
    import cv2
    import skimage.data

    from alexnet_viz.network import view_image

    img = Image.fromarray(getattr(skimage.data, sample)()).convert("RGB")
    want = cv2.resize(np.asarray(img), (256, 256), interpolation=cv2.INTER_LINEAR)[14:241, 14:241]  # RGB in, RGB out
    assert np.array_equal(np.asarray(view_image("alexnet2012", img, "warp")), want)
    net = av.load_network("alexnet2012", "untrained", device="cpu")
    assert np.array_equal(np.asarray(net.view(img, mode="warp")), want)
    x = torch.from_numpy(want).permute(2, 0, 1).float() - torch.tensor(net.prep.mean)[:, None, None]
    assert torch.allclose(net.preprocess(img, mode="warp")[0], x)


@pytest.mark.parametrize("model", ["alexnet2012", "torchvision", "keras-tutorial"])
@pytest.mark.parametrize("mode", ["aspect", "warp"])
def test_a_batch_normalised_at_once_equals_its_images_preprocessed_one_by_one_bit_for_bit(model, mode):
    """build_index decodes to uint8 pixels on its threads and normalises a whole batch at once."""
    from torchvision.transforms import functional as TF

    from alexnet_viz.architecture import PREPROCESSING
    from alexnet_viz.network import image_pixels, normalize_pixels, preprocess_image, view_image

    rng = np.random.default_rng(7)
    imgs = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in ((300, 380), (500, 260))]
    imgs += [imgs[0].convert("L"), imgs[1].convert("RGBA"), imgs[0].convert("P")]  # every mode goes through RGB
    one_by_one = torch.cat([preprocess_image(model, img, mode) for img in imgs])  # (5, 3, crop, crop)
    pixels = torch.cat([image_pixels(model, img, mode) for img in imgs])  # (5, crop, crop, 3) uint8
    crop = PREPROCESSING[model].crop
    assert pixels.dtype == torch.uint8 and tuple(pixels.shape) == (5, crop, crop, 3)
    assert torch.equal(pixels[1], torch.from_numpy(np.array(view_image(model, imgs[1], mode))))
    batch = normalize_pixels(model, pixels, mode)
    assert batch.dtype == torch.float32 and batch.is_contiguous()  # laid out as net.preprocess's (no channels-last)
    assert torch.equal(batch, one_by_one)
    if model != "torchvision" or mode == "warp":  # torchvision's own transform: the test above
        prep = PREPROCESSING[model]
        by_hand = TF.normalize(TF.pil_to_tensor(view_image(model, imgs[0], mode)).float() * prep.scale,
                               prep.mean, prep.std)  # (3, crop, crop): the formula as written before the split
        assert torch.equal(one_by_one[0], by_hand)
