"""Time the live camera's per-frame work: how many updates per second this machine can show.

    python benchmarks/bench_live.py [--frames 30] [--layer conv1] [--device cpu] [--threads N]

One 640×480 frame (a synthetic photo, a little different each time) through
``LiveProcessor.process`` per update: downscale check, preprocessing, one forward pass with every
activation, the top-5, the layer's maps tiled and the picture composed. Prints the machine and
its load, then per variant the median milliseconds of the whole and of its parts and the updates
per second that median allows (the goal is ≥ 5), and what the video transport adds for each
picture it sends back (aiortc's VP8 encoder, which runs at the camera's frame rate, not ours).
On a machine shared with other work the wall-clock figures swing with its load; the CPU time per
frame (the process's, all its threads) does much less, and 1 / CPU is the rate one core alone
would allow on an idle machine: a floor for the updates per second there.
Not a test: nothing passes or fails.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_attribution import machine, synthetic_photo  # noqa: E402

from alexnet_viz.live import LiveProcessor, compose  # noqa: E402
from alexnet_viz.network import load_network, pick_device  # noqa: E402


def frames(n: int) -> list[np.ndarray]:
    """n camera-like 640×480 frames: the synthetic photo with fresh sensor noise in each."""
    base = np.asarray(synthetic_photo(640).resize((640, 480)), np.int16)
    rng = np.random.default_rng(0)
    return [np.clip(base + rng.integers(-8, 9, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def median_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def parts(net, frame: np.ndarray, layer: str, repeats: int) -> tuple[float, float, float]:
    """Median ms of preprocessing, the forward pass (all activations) and drawing, each alone."""
    img = Image.fromarray(frame)
    pre, fwd, draw = [], [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        x = net.preprocess(img)
        t1 = time.perf_counter()
        with torch.no_grad():
            acts = net.activations(x)
        if net.device.type == "cuda":
            torch.cuda.synchronize(net.device)
        t2 = time.perf_counter()
        top = net.top_classes(acts[next(reversed(acts))][0])
        compose(frame, acts[layer][0].cpu().numpy(), layer, net.arch, top, 5.0)
        t3 = time.perf_counter()
        pre.append(t1 - t0), fwd.append(t2 - t1), draw.append(t3 - t2)
    return median_ms(pre), median_ms(fwd), median_ms(draw)


def vp8_ms(pictures: list[np.ndarray]) -> float | None:
    """Median ms for aiortc's VP8 encoder to encode each picture sent back, in turn (None without aiortc)."""
    try:
        import av as pyav
        from aiortc.codecs.vpx import Vp8Encoder
    except ImportError:
        return None
    enc, times = Vp8Encoder(), []
    for k, picture in enumerate(pictures):
        f = pyav.VideoFrame.from_ndarray(picture, format="rgb24")
        f.pts, f.time_base = k, Fraction(1, 15)
        t = time.perf_counter()
        enc.encode(f)
        if k:  # the first frame sets the encoder up
            times.append(time.perf_counter() - t)
    return median_ms(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--layer", default="conv1")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch's intra-op threads (default: torch's own)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(max(1, min(args.threads, 64)))
    n = max(3, min(args.frames, 500))
    clip = frames(n)
    print(machine(pick_device(args.device)))
    print(f"load average at start: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}\n")
    print(f"| variant | per frame (ms, median of {n}) | updates/s | CPU per frame (ms) | 1 / CPU (/s) "
          f"| preprocess (ms) | forward (ms) | draw (ms) | VP8 encode of the picture sent back (ms) |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    for model in ("alexnet2012", "torchvision"):
        net = load_network(model, weights="untrained", device=args.device)
        proc = LiveProcessor(net, layer=args.layer)
        proc.process(clip[0])  # warm-up: allocator, lazy imports
        done, cpu = [], []
        for f in clip:
            c = time.process_time()  # every thread of this process: torch's workers too
            done.append(proc.process(f))
            cpu.append(time.process_time() - c)
        per, cpu_ms = median_ms([d.seconds for d in done]), median_ms(cpu)
        pre, fwd, draw = parts(net, clip[0], args.layer, max(3, n // 3))
        enc = vp8_ms([d.picture for d in done])
        size = f"{done[0].picture.shape[1]}×{done[0].picture.shape[0]}"
        print(f"| {model} | {per:.0f} | **{1000 / per:.1f}** | {cpu_ms:.0f} | {1000 / cpu_ms:.1f} | "
              f"{pre:.0f} | {fwd:.0f} | {draw:.0f} | "
              f"{'—' if enc is None else f'{enc:.0f}'} ({size}) |")
    print(f"\nload average at the end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")


if __name__ == "__main__":
    main()
