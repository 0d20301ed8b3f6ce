"""Feature visualisation: an image optimised to excite one channel.

As in Olah, Mordvintsev & Schubert, "Feature Visualization" (Distill, 2017),
https://distill.pub/2017/feature-visualization/.

The three regularisers of that article, as its library lucid (tensorflow/lucid, Apache-2.0) does them:

* **A Fourier parameterisation with 1/f scaling**: the image is the inverse real FFT of a learnt
  spectrum, each frequency scaled by 1 / max(f, 1/side) (lucid's ``param.spatial.fft_image``,
  decay power 1, orthonormal FFT, divided by 4), so steps of plain Adam move all frequencies
  alike instead of letting high-frequency noise win.
* **Decorrelated colour**: the three learnt channels are mixed by the square root of ImageNet's
  RGB covariance (``COLOR_CORRELATION_SVD_SQRT``), then squashed into 0..1 by a sigmoid
  (lucid's ``param.color.to_valid_rgb(decorrelate=True)``).
* **Transformation robustness**: every step sees the image padded by 12 px of grey, jittered,
  scaled by 0.9..1.1, rotated by -10..10 degrees and jittered again (lucid's
  ``transform.standard_transforms``), so only patterns that survive small moves are learnt.

Why not torch-lucent (the PyTorch port, last released as 0.1.8 in 2021): checked against torch
2.14, it does not import without IPython (``lucent.misc.io.showing`` imports it at module level),
declares pytest, coveralls and ipython as install requirements, pins ``kornia<=0.4.1`` for its
transforms, picks ``cuda:0`` in module globals, and hooks every module of the model with forward
hooks that ``render_vis`` never removes. This app's networks are shared by every session and must
come back unchanged, so the ~100 lines below are used instead.

The network is never modified: its parameters already have ``requires_grad=False``, gradients are
taken with respect to the image only, no hook is registered (``net.activations(x, upto=layer)``),
and the network stays in eval mode. Several channels optimise as one batch; each image's loss
depends on that image only and Adam is per element, and every image of a batch gets the same
random start and the same random transforms, so a batch gives the single-channel runs' images up
to floating-point rounding: batched convolutions sum in another order, and Adam's first steps are
nearly sign steps, which can turn the rounding of a near-zero gradient into a visible difference
(measured on relu3 of the untrained alexnet2012, 6 steps at 96 px: two channels of three
bit-identical, the third 1.1/255 from its single run on average, where another seed is 13/255).

Results are cached as PNG files in ``$ALEXNET_VIZ_HOME/visualizations/<model>/`` keyed by the
network (its name, weights description and SHA-256 fingerprint, as the photo index binds itself),
the layer, the channel, the parameters and ``ALGORITHM`` (bumped whenever the numbers would
change), written atomically (a temporary file, then a rename).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ALGORITHM = "lucid-fft-decorrelated-1"  # part of every cache key: change it when the numbers change

# The square root (via SVD) of ImageNet's RGB colour covariance, from lucid's
# lucid/optvis/param/color.py (``color_correlation_svd_sqrt``), the same numbers as torch-lucent's
# lucent/optvis/param/color.py. Columns are normalised so the largest has length 1, as lucid does.
COLOR_CORRELATION_SVD_SQRT = np.asarray([[0.26, 0.09, 0.02],
                                         [0.27, 0.00, -0.05],
                                         [0.27, -0.09, 0.03]], dtype=np.float32)
COLOR_CORRELATION = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))

PAD = 12  # lucid's pad(12, constant 0.5)
JITTER_FIRST, JITTER_LAST = 8, 4  # lucid's jitter(8) ... jitter(4)
SCALES = [1 + (i - 5) / 50 for i in range(11)]  # 0.9 .. 1.1
ANGLES = list(range(-10, 11)) + 5 * [0]  # degrees; no rotation a little more often
LEARNING_RATE = 0.05  # lucid's default Adam step
SPECTRUM_SD = 0.01  # lucid's initial spectrum scale
MAX_BATCH = 16  # channels optimised together at most, to bound memory

Progress = Callable[[int, int], None]


# -- the parameterisation ------------------------------------------------------------------------
def _frequencies(h: int, w: int) -> np.ndarray:
    """|f| for each entry of an rfft2 spectrum of an h × w image (lucid's rfft2d_freqs)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


def _spectrum_scale(side: int) -> torch.Tensor:
    """1 / max(|f|, 1/side): the 1/f scaling that equalises the frequencies' step sizes."""
    return torch.from_numpy(1.0 / np.maximum(_frequencies(side, side), 1.0 / side)).float()


def _to_rgb(spectrum: torch.Tensor, side: int) -> torch.Tensor:
    """(N, 3, side, side//2+1, 2) scaled spectrum (real, imaginary) -> (N, 3, side, side) RGB in 0..1."""
    z = torch.view_as_complex(spectrum.contiguous())
    img = torch.fft.irfft2(z, s=(side, side), norm="ortho") / 4.0  # lucid's "magic" 4
    colour = torch.as_tensor(COLOR_CORRELATION, device=img.device)
    img = torch.einsum("nchw,dc->ndhw", img, colour)  # decorrelated -> correlated colour
    return torch.sigmoid(img)


def _to_input(net, rgb: torch.Tensor) -> torch.Tensor:
    """RGB in 0..1 -> what the network takes, normalised as ``net.preprocess`` does (no resize)."""
    return net.prep.normalize(rgb * 255.0)


def as_input(net, img: Image.Image) -> torch.Tensor:
    """A visualisation (PIL) -> the (1, 3, H, W) input it was optimised as, without resizing."""
    rgb = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)
    return _to_input(net, rgb.unsqueeze(0).to(net.device))


# -- robustness ------------------------------------------------------------------------------------
def _crop(x: torch.Tensor, side: int, g: torch.Generator) -> torch.Tensor:
    """A random side × side window (jitter): the same offset for every image of the batch."""
    room = x.shape[-1] - side
    dy, dx = (int(v) for v in torch.randint(0, room + 1, (2,), generator=g))
    return x[..., dy:dy + side, dx:dx + side]


def _scale_rotate(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Scale about the centre by one of SCALES and rotate by one of ANGLES (bilinear, grey fill)."""
    s = SCALES[int(torch.randint(len(SCALES), (1,), generator=g))]
    a = math.radians(ANGLES[int(torch.randint(len(ANGLES), (1,), generator=g))])
    # affine_grid maps output coordinates to input ones: the inverse of the wanted transform
    theta = torch.tensor([[math.cos(a) / s, -math.sin(a) / s, 0.0],
                          [math.sin(a) / s, math.cos(a) / s, 0.0]], dtype=x.dtype, device=x.device)
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5


def _robust(rgb: torch.Tensor, side: int, g: torch.Generator) -> torch.Tensor:
    """lucid's standard transforms, ending at exactly side × side (so fc layers can be asked too)."""
    x = F.pad(rgb, (PAD,) * 4, value=0.5)
    x = _crop(x, side + 2 * PAD - JITTER_FIRST, g)
    x = _scale_rotate(x, g)
    return _crop(x, side, g)


def _picked(acts: torch.Tensor, channels: Sequence[int]) -> torch.Tensor:
    """(N, H·W) or (N, 1): image i's channel channels[i]."""
    picked = acts[torch.arange(acts.shape[0], device=acts.device), torch.as_tensor(list(channels), device=acts.device)]
    return picked.flatten(1) if picked.dim() > 1 else picked[:, None]


def _objective(net, acts: dict, layer: str, channels: Sequence[int]) -> torch.Tensor:
    """(N,) what each image maximises: its channel's mean activation.

    A channel after a ReLU that is zero everywhere has no gradient (a dead start: an untrained
    conv1 channel on a grey image). There lucid's "redirected ReLU" lets the gradient through
    where it pushes the input up; here, for the asked layer's ReLU, an image whose channel is
    dead everywhere maximises the mean of the ReLU's input instead, until some unit comes alive.
    """
    out = _picked(acts[layer], channels)
    names = list(acts)
    kinds = {lay.name: lay.kind for lay in net.arch.layers}
    if kinds.get(layer) != "relu" or len(names) < 2:
        return out.mean(1)
    pre = _picked(acts[names[-2]], channels)
    alive = (out > 0).any(dim=1)
    return torch.where(alive, out.mean(1), pre.mean(1))


def _check(net, layer: str, channels: Sequence[int], steps: int, size: int) -> None:
    if layer not in net.arch.names():
        raise ValueError(f"{net.name} has no layer named {layer!r}; it has {', '.join(net.arch.names())}.")
    if steps < 0:
        raise ValueError(f"steps must be 0 or more; got {steps}.")
    if size < 1:
        raise ValueError(f"size must be at least 1 pixel; got {size}.")
    with torch.no_grad():
        n = net.activations(torch.zeros(1, 3, size, size, device=net.device), upto=layer)[layer].shape[1]
    bad = [c for c in channels if not 0 <= int(c) < n]
    if bad:
        raise ValueError(f"{layer} has channels 0–{n - 1}; there is no channel {bad[0]}.")


def _optimise(net, layer: str, channels: Sequence[int], steps: int, size: int, seed: int,
              progress: Progress | None = None, done: int = 0, total: int | None = None) -> list[np.ndarray]:
    """Optimise one image per channel together; -> [(size, size, 3) uint8]."""
    device, total = net.device, steps if total is None else total
    g = torch.Generator().manual_seed(seed)
    side_f = size // 2 + 1
    start = torch.randn(1, 3, size, side_f, 2, generator=g) * SPECTRUM_SD  # the same start for each
    spectrum = start.repeat(len(channels), 1, 1, 1, 1).to(device).requires_grad_(True)
    scale = _spectrum_scale(size).to(device)[None, None, :, :, None]
    opt = torch.optim.Adam([spectrum], lr=LEARNING_RATE)
    with torch.enable_grad():
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            rgb = _to_rgb(spectrum * scale, size)
            x = _to_input(net, _robust(rgb, size, g))
            acts = net.activations(x, upto=layer)
            (-_objective(net, acts, layer, channels).sum()).backward()  # each image's own channel, summed
            opt.step()
            if progress:
                progress(done + step + 1, total)
    with torch.no_grad():
        rgb = _to_rgb(spectrum * scale, size)
    return list((rgb.permute(0, 2, 3, 1).cpu().numpy() * 255.0 + 0.5).clip(0, 255).astype(np.uint8))


# -- the cache ---------------------------------------------------------------------------------------
def _folder() -> Path:
    from .weights import cache_dir

    return cache_dir() / "visualizations"


def cache_path(net, layer: str, channel: int, steps: int = 256, size: int = 227, seed: int = 0) -> Path:
    """Where the visualisation of (this network, layer, channel, parameters) is kept on disk."""
    from .index.store import fingerprint

    key = {"algorithm": ALGORITHM, "model": net.name, "weights": net.weights, "fingerprint": fingerprint(net),
           "layer": layer, "channel": int(channel), "steps": int(steps), "size": int(size), "seed": int(seed)}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
    safe_layer = "".join(ch for ch in layer if ch.isalnum()) or "layer"
    return _folder() / net.name / f"{safe_layer}-{int(channel)}-{digest}.png"


def _read(path: Path, size: int) -> Image.Image | None:
    try:
        with Image.open(path) as im:
            im.load()
            img = im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # missing, or a broken file: computed again and replaced
    return img if img.size == (size, size) else None


def _write(path: Path, img: Image.Image) -> None:
    """PNG written to a temporary file beside ``path``, then renamed over it (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            img.save(f, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def cached_visualization(net, layer: str, channel: int, steps: int = 256, size: int = 227,
                         seed: int = 0) -> Image.Image | None:
    """The visualisation from the disk cache, or None; never optimises."""
    return _read(cache_path(net, layer, channel, steps, size, seed), size)


# -- the API -------------------------------------------------------------------------------------------
def visualize_many(net, layer: str, channels: Sequence[int], steps: int = 256, size: int = 227, seed: int = 0,
                   progress: Progress | None = None, cache: bool = True) -> list[Image.Image]:
    """One image per channel of ``layer``, each optimised to maximise that channel's mean activation.

    Channels not in the disk cache are optimised together, up to MAX_BATCH per batch.
    ``progress(done, total)`` is called after every step (total = steps × batches); on a full cache
    hit it is called once with (0, 0). ``cache=False`` neither reads nor writes the disk cache.
    Raises ValueError with a sentence for an unknown layer, channel or parameter.
    """
    channels = [int(c) for c in channels]
    _check(net, layer, channels, steps, size)
    found: dict[int, Image.Image] = {}
    if cache:
        for c in dict.fromkeys(channels):
            hit = cached_visualization(net, layer, c, steps, size, seed)
            if hit is not None:
                found[c] = hit
    todo = [c for c in dict.fromkeys(channels) if c not in found]
    groups = [todo[i:i + MAX_BATCH] for i in range(0, len(todo), MAX_BATCH)]
    total = steps * len(groups)
    if not groups and progress:
        progress(0, 0)
    for k, group in enumerate(groups):
        for c, arr in zip(group, _optimise(net, layer, group, steps, size, seed, progress, k * steps, total)):
            img = Image.fromarray(arr, "RGB")
            if cache:
                _write(cache_path(net, layer, c, steps, size, seed), img)
            found[c] = img
    return [found[c].copy() for c in channels]


def visualize(net, layer: str, channel: int, steps: int = 256, size: int = 227, seed: int = 0,
              progress: Progress | None = None, cache: bool = True) -> Image.Image:
    """A size × size PIL image optimised to maximise ``layer``'s ``channel`` (see the module)."""
    return visualize_many(net, layer, [channel], steps, size, seed, progress, cache)[0]
