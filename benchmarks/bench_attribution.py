"""Time every attribution method on one image, as a multiple of one forward + backward pass.

    python benchmarks/bench_attribution.py [IMAGE] [--model alexnet2012] [--weights untrained]
                                           [--device auto] [--repeats 5]

Prints the machine, then per method: its default parameters, forward batches (of up to 8
images; see attribution.passes), median seconds over the repeats, and the ratio to the median
of one plain forward + backward pass measured just before and after it. Without
IMAGE a fixed synthetic photo-like picture is used (timings do not depend on the picture).
Not a test: nothing passes or fails.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alexnet_viz.attribution import ATTRIBUTION_METHODS, explain, passes, private_copy  # noqa: E402
from alexnet_viz.images import load_image  # noqa: E402
from alexnet_viz.network import full_float32, load_network  # noqa: E402

full_float32()  # every benchmark that imports this module measures on a GPU as the app computes: no TF32


def machine(device: torch.device) -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    where = str(device)
    if device.type == "cuda":
        where += f" ({torch.cuda.get_device_name(device)}, TF32 {'on' if torch.backends.cudnn.allow_tf32 else 'off'})"
    return (f"{cpu}; {os.cpu_count()} cores, torch {torch.__version__} using "
            f"{torch.get_num_threads()} threads; device {where}")


def synthetic_photo(size: int = 256) -> Image.Image:
    """Smooth colour gradients and a few discs: photo-like statistics, no file needed."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    rgb = np.stack([xx, yy, 1 - xx * yy], -1)
    for cx, cy, r in ((0.3, 0.4, 0.15), (0.7, 0.6, 0.2)):
        rgb[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r] *= 0.4
    return Image.fromarray((rgb * 255).astype(np.uint8))


def timed(fn, device: torch.device, repeats: int, warm_up: bool = True) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn`` (after one uncounted call)."""
    if warm_up:
        fn()  # allocator, kernels, lazy imports
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("image", nargs="?")
    p.add_argument("--model", default="alexnet2012")
    p.add_argument("--weights", default="untrained")
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--slow-repeats", type=int, default=1, help="repeats for occlusion")
    p.add_argument("--methods", nargs="*", default=list(ATTRIBUTION_METHODS))
    args = p.parse_args(argv)

    net = load_network(args.model, args.weights, args.device)
    img = load_image(args.image) if args.image else synthetic_photo()
    x = net.preprocess(img)  # (1, 3, crop, crop)
    target = 0

    def forward_backward() -> None:
        work = private_copy(net)
        xi = x.detach().clone().requires_grad_(True)
        torch.autograd.grad(work(xi)[0, target], xi)

    print(f"machine: {machine(net.device)}")
    print(f"network: {net.arch.name}, weights {net.weights}; input {tuple(x.shape)}")
    print(f"median of {args.repeats} runs after a warm-up run (occlusion: {args.slow_repeats}, no "
          f"warm-up); the forward + backward baseline is re-measured beside each method, so a "
          f"busy machine's drift cancels in the ratio\n")
    print(f"| {'method':22} | {'parameters':41} | batches | seconds | fwd+bwd ms | ratio |")
    print(f"|{'-' * 24}|{'-' * 43}|--------:|--------:|-----------:|------:|")
    size = (x.shape[2], x.shape[3])
    for name in args.methods:
        m = ATTRIBUTION_METHODS[name]
        params = ", ".join(f"{k}={v}" for k, v in m.defaults().items()) or "–"
        slow = name == "occlusion"
        before = timed(forward_backward, net.device, args.repeats)
        seconds = statistics.median(timed(lambda: explain(net, x, name, target), net.device,
                                          args.slow_repeats if slow else args.repeats, not slow))
        base = statistics.median(before + timed(forward_backward, net.device, args.repeats, False))
        print(f"| {name:22} | {params:41} | {passes(name, size):7d} | {seconds:7.3f} | "
              f"{base * 1000:10.1f} | {seconds / base:5.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
