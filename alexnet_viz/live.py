"""A camera frame -> the network's top-5 and one layer's maps, drawn into one picture.

The Deep Visualization Toolbox's live mode: each frame goes through the network once
(``net.activations``: every layer from one pass, no hooks, so the shared network is never
changed), and the picture that goes back shows the frame with the top-5 written on it and the
chosen layer's channels tiled beside it, one block per GPU tower.

:class:`LiveProcessor` is what a video callback calls. It is thread-safe: the callback runs on
the streaming library's worker thread while the page changes the layer or the network from the
script thread; each frame reads one consistent (network, layer) pair. It does not queue: it
works on the frame it is handed, and the caller decides which frames to hand it (the app's
streaming component hands it only the newest one and drops those that arrived meanwhile).
A :class:`StreamGate` shared by a server's processors bounds how many streams it works on at
once: each keeps both cores busy for as long as it runs.
"""
from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .architecture import Architecture
from .network import _check_mode
from .render.tiles import tower_grids
from .walkthrough import viewable_layers

if TYPE_CHECKING:
    from .network import Network

LIVE_KINDS = ("conv", "relu", "maxpool")  # layers with maps worth watching move
MAX_SIDE = 640  # a frame's longer side is brought down to this before any work
MAX_INPUT_SIDE = 4096  # a frame larger than this on either side is refused, not resized
RATE_WINDOW_S = 5.0  # updates per second are counted over the frames finished this recently
RATE_FRAMES = 30  # ... and at most this many
GAP = 6  # pixels between the picture and the maps, and between the towers' blocks
BACKGROUND = (255, 255, 255)


def live_layers(arch: Architecture) -> list[str]:
    """The layers the live view can show, in forward order: every conv, ReLU and pooling layer
    whose output is a stack of maps (conv1 … pool5; relu6 and relu7 are vectors, so not these)."""
    maps = viewable_layers(arch)
    return [name for name, shape in maps.items() if shape == "map" and arch.layer(name).kind in LIVE_KINDS]


def _checked_mode(mode: str) -> str:
    _check_mode(mode)  # the network's own sentence for an unknown mode
    return mode


class LiveBusy(ValueError):
    """This server already runs as many live streams as it allows; the sentence says so."""


class StreamGate:
    """At most ``max_streams`` processors at work at once, across every session of a server.

    A processor holds a place while it keeps finishing frames; one that has not asked for
    ``idle_s`` seconds (its stream stopped, its tab closed) gives its place up by itself, so
    nothing has to tell the gate that a stream ended. Thread-safe.
    """

    def __init__(self, max_streams: int, idle_s: float = 3.0):
        if not 1 <= int(max_streams) <= 64:
            raise ValueError(f"A server allows between 1 and 64 live streams at once, not {max_streams}.")
        self.max_streams = int(max_streams)
        self.idle_s = float(idle_s)
        self._seen: dict[object, float] = {}  # a processor's token -> when it last asked
        self._lock = threading.Lock()

    def admit(self, token: object) -> bool:
        """True (and the place is held a while longer) if ``token`` may process a frame now."""
        with self._lock:
            now = time.monotonic()
            for old in [k for k, t in self._seen.items() if now - t > self.idle_s]:
                del self._seen[old]
            if token in self._seen or len(self._seen) < self.max_streams:
                self._seen[token] = now
                return True
            return False

    def release(self, token: object) -> None:
        """Give ``token``'s place up now (its stream stopped), rather than after ``idle_s``."""
        with self._lock:
            self._seen.pop(token, None)

    def active(self) -> int:
        """How many streams hold a place now."""
        with self._lock:
            now = time.monotonic()
            return sum(now - t <= self.idle_s for t in self._seen.values())


@dataclass(frozen=True)
class LiveFrame:
    """One processed frame: the picture to send back, what the network said, and what it cost."""

    picture: np.ndarray  # (h, w + GAP + maps_w, 3) uint8: the (downscaled) frame, top-5 on it, maps beside it
    top: tuple[tuple[int, str, float], ...]  # (class index, label, probability), most probable first
    layer: str
    maps: np.ndarray  # (C, H, W) float32: the layer's activation for this frame
    seconds: float  # the work on this frame, downscale to finished picture


@dataclass(frozen=True)
class LiveStats:
    """What the processor has done so far; ``stats()`` returns a snapshot, safe to read anywhere."""

    frames: int  # frames processed since the processor was made
    updates_per_s: float | None  # finished frames per second, recently; None before two frames
    work_ms: float | None  # median work per frame over the recent frames
    top: tuple[tuple[int, str, float], ...]  # the latest frame's top-5
    layer: str
    error: str | None  # the last frame's failure, as a sentence; None once a frame succeeds


class LiveProcessor:
    """Frames in, annotated pictures out, with a running count and rate (thread-safe).

    ``net`` is a shared :class:`~alexnet_viz.network.Network`, only read; ``layer`` one of
    :func:`live_layers`; frames are brought down to ``max_side`` pixels on their longer side.
    With a ``gate``, a frame is only processed while this processor holds one of its places;
    otherwise ``process`` raises :class:`LiveBusy`.
    """

    def __init__(self, net: "Network", layer: str = "conv1", max_side: int = MAX_SIDE, top: int = 5,
                 gate: StreamGate | None = None, mode: str = "aspect"):
        if not 32 <= int(max_side) <= MAX_INPUT_SIDE:
            raise ValueError(f"max_side must be between 32 and {MAX_INPUT_SIDE} pixels, not {max_side}.")
        if not 1 <= int(top) <= 10:
            raise ValueError(f"The live view shows between 1 and 10 classes, not {top}.")
        self.max_side = int(max_side)
        self.top = int(top)
        self.gate = gate  # shared by every session's processor: the server's bound on streams
        self._token = object()  # this processor's place in the gate
        self._lock = threading.Lock()
        self._net, self._layer = self._checked(net, layer)
        self._mode = _checked_mode(mode)  # the preprocessing: "aspect" or "warp", as net.preprocess takes
        self._frames = 0
        self._done: deque[float] = deque(maxlen=RATE_FRAMES)  # monotonic times frames finished
        self._work: deque[float] = deque(maxlen=RATE_FRAMES)  # seconds of work per frame
        self._last_top: tuple[tuple[int, str, float], ...] = ()
        self._error: str | None = None

    # -- configuration, from the page's thread -------------------------------------------------
    @staticmethod
    def _checked(net: "Network", layer: str) -> tuple["Network", str]:
        layers = live_layers(net.arch)
        if layer not in layers:
            raise ValueError(f"The live view shows {', '.join(layers)} of {net.arch.name}, not “{layer}”.")
        return net, layer

    def configure(self, net: "Network | None" = None, layer: str | None = None, mode: str | None = None) -> None:
        """Switch the network, the layer and/or the preprocessing mode; the next frame uses them.
        A layer the network does not have, or an unknown mode, is refused with a sentence and
        nothing changes."""
        with self._lock:
            net, layer = self._checked(net or self._net, layer or self._layer)
            mode = _checked_mode(mode or self._mode)
            self._net, self._layer, self._mode = net, layer, mode

    @property
    def layer(self) -> str:
        return self._layer

    @property
    def net(self) -> "Network":
        return self._net

    @property
    def mode(self) -> str:
        return self._mode

    # -- the work, from the streaming thread ---------------------------------------------------
    def process(self, rgb: np.ndarray) -> LiveFrame:
        """One frame, (H, W, 3) uint8 RGB -> a :class:`LiveFrame`. One forward pass.

        Raises ValueError with a sentence for something that is not such a frame.
        """
        start = time.perf_counter()
        frame = _checked_frame(rgb)
        if self.gate is not None and not self.gate.admit(self._token):
            raise LiveBusy(f"This server is already running {self.gate.max_streams} live "
                           f"stream{'s' if self.gate.max_streams > 1 else ''}, as many as it allows at once; "
                           "the picture will start to change as soon as one of them stops.")
        with self._lock:
            net, layer, mode = self._net, self._layer, self._mode
        img = Image.fromarray(frame)
        if max(img.size) > self.max_side:  # bound the work: a 4K camera costs what a 640 px one does
            f = self.max_side / max(img.size)
            img = img.resize((max(1, round(img.width * f)), max(1, round(img.height * f))), Image.BILINEAR)
        with torch.no_grad():
            acts = net.activations(net.preprocess(img, mode))  # one pass; the last entry is the logits
        top = tuple(net.top_classes(acts[next(reversed(acts))][0], self.top))
        maps = acts[layer][0].float().cpu().numpy()  # (C, H, W)
        with self._lock:
            rate = self._rate(time.monotonic())
        picture = compose(np.asarray(img), maps, layer, net.arch, top, rate)
        seconds = time.perf_counter() - start
        if self.gate is not None:
            self.gate.admit(self._token)  # still at work: a slow frame must not lose its place
        with self._lock:
            self._frames += 1
            self._done.append(time.monotonic())
            self._work.append(seconds)
            self._last_top = top
            self._error = None
        return LiveFrame(picture, top, layer, maps, seconds)

    def release(self) -> None:
        """The stream stopped: give the gate's place up at once, so the server's count is right."""
        if self.gate is not None:
            self.gate.release(self._token)

    def picture_for(self, rgb: np.ndarray) -> np.ndarray:
        """What a video callback returns: the annotated picture, or on any failure the frame as
        it came, with the failure kept as a sentence for ``stats().error``. Never raises, since
        an exception in the streaming thread would end the stream without a word."""
        try:
            return self.process(rgb).picture
        except Exception as exc:  # noqa: BLE001 -- reported on the page, not swallowed
            with self._lock:
                self._error = (str(exc) if isinstance(exc, ValueError)
                               else f"A frame could not be processed ({type(exc).__name__}: {exc}).")
            if isinstance(exc, LiveBusy):  # a good frame: say it on the picture too
                return _with_note(_checked_frame(rgb), "Waiting: this server's live streams are all in use.")
            return rgb

    def stats(self) -> LiveStats:
        with self._lock:
            work = statistics.median(self._work) * 1000 if self._work else None
            return LiveStats(self._frames, self._rate(time.monotonic()), work, self._last_top,
                             self._layer, self._error)

    def _rate(self, now: float) -> float | None:
        """Frames finished per second over the recent ones (the lock is held)."""
        recent = [t for t in self._done if now - t <= RATE_WINDOW_S]
        if len(recent) < 2 or recent[-1] <= recent[0]:
            return None
        return (len(recent) - 1) / (recent[-1] - recent[0])


def _checked_frame(rgb) -> np.ndarray:
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"A camera frame is an (H, W, 3) array of 8-bit RGB; this one is "
                         f"{a.dtype} shaped {a.shape}.")
    if min(a.shape[:2]) < 1 or max(a.shape[:2]) > MAX_INPUT_SIDE:
        raise ValueError(f"A camera frame must be 1 to {MAX_INPUT_SIDE} pixels on each side; this one is "
                         f"{a.shape[1]}×{a.shape[0]}.")
    return np.ascontiguousarray(a)


# -- drawing -----------------------------------------------------------------------------------
def maps_picture(maps: np.ndarray, layer: str, arch: Architecture, height: int) -> np.ndarray:
    """The layer's channels, each stretched to its own range, tiled one block per GPU tower
    (stacked, the first tower on top), through viridis, scaled to ``height`` pixels: (height, w, 3)."""
    cols = math.ceil(math.sqrt(maps.shape[0]))  # the towers' blocks stacked make a near square
    grids = tower_grids(maps, layer, arch=arch, cols=cols, pad=2)  # 2: a pad survives the downscale
    blocks = [g.rgb("viridis", BACKGROUND) for g in grids.values()]
    width = max(b.shape[1] for b in blocks)
    parts = []
    for k, b in enumerate(blocks):
        if k:
            parts.append(np.full((GAP, width, 3), BACKGROUND, np.uint8))
        parts.append(np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=255))
    stacked = np.concatenate(parts)
    w = max(1, round(stacked.shape[1] * height / stacked.shape[0]))
    return np.asarray(Image.fromarray(stacked).resize((w, height), Image.NEAREST))


def compose(frame: np.ndarray, maps: np.ndarray, layer: str, arch: Architecture,
            top, rate: float | None) -> np.ndarray:
    """The frame with the top-5 and the rate written on it, the maps beside it: (h, w', 3) uint8."""
    h, w = frame.shape[:2]
    side = maps_picture(maps, layer, arch, h)
    out = np.full((h, w + GAP + side.shape[1], 3), BACKGROUND, np.uint8)
    out[:, :w] = frame
    out[:, w + GAP:] = side
    img = Image.fromarray(out)
    draw = ImageDraw.Draw(img, "RGBA")
    size = max(10, min(28, h // 22))
    font = ImageFont.load_default(size=size)
    head = f"{layer} · {rate:.1f} updates/s" if rate else f"{layer}"
    _text_box(draw, (6, 6), [head], font, size)
    lines = [f"{p * 100:5.1f}%  {_short(label)}" for _i, label, p in top]
    _text_box(draw, (6, h - 6 - len(lines) * (size + 4) - 6), lines, font, size)
    return np.asarray(img)


def _with_note(frame: np.ndarray, note: str) -> np.ndarray:
    """A copy of the frame with one line of text on a dark box at its top left."""
    img = Image.fromarray(frame)
    size = max(10, min(28, img.height // 22))
    _text_box(ImageDraw.Draw(img, "RGBA"), (6, 6), [note], ImageFont.load_default(size=size), size)
    return np.asarray(img)


def _short(label: str, n: int = 26) -> str:
    return label if len(label) <= n else label[:n - 1] + "…"


def _text_box(draw: ImageDraw.ImageDraw, xy: tuple[int, int], lines: list[str], font, size: int) -> None:
    """Lines of white text on a dark, half-transparent box: readable on any picture."""
    x, y = xy
    width = max(draw.textlength(line, font=font) for line in lines)
    draw.rectangle((x, y, x + width + 12, y + len(lines) * (size + 4) + 6), fill=(0, 0, 0, 160))
    for k, line in enumerate(lines):
        draw.text((x + 6, y + 3 + k * (size + 4)), line, fill=(255, 255, 255, 255), font=font)
