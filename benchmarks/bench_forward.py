"""Time the app's per-image work for each variant: preprocessing, one forward pass, and all
activations from one pass (which should cost about one forward pass: no second run, no hooks).

    python benchmarks/bench_forward.py [--device auto] [--repeats 20]

Prints the machine, then per variant the median milliseconds of each step and the ratio of
``activations`` to a plain forward pass. Not a test: nothing passes or fails.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_attribution import machine, synthetic_photo, timed  # noqa: E402

from alexnet_viz.network import load_network, pick_device  # noqa: E402


def median_ms(fn, device: torch.device, repeats: int) -> float:
    return statistics.median(timed(fn, device, repeats)) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    img = synthetic_photo(400)
    print(f"{machine(pick_device(args.device))}\n")
    print("| variant | load (ms) | preprocess (ms) | forward (ms) | activations (ms) | activations ÷ forward |")
    print("|---|--:|--:|--:|--:|--:|")
    for model in ("alexnet2012", "torchvision"):
        t = time.perf_counter()
        net = load_network(model, weights="untrained", device=args.device)
        load = (time.perf_counter() - t) * 1000
        x = net.preprocess(img)
        with torch.no_grad():
            pre = median_ms(lambda: net.preprocess(img), net.device, args.repeats)
            fwd = median_ms(lambda: net(x), net.device, args.repeats)
            act = median_ms(lambda: net.activations(x), net.device, args.repeats)
        print(f"| {model} | {load:.0f} | {pre:.1f} | {fwd:.1f} | {act:.1f} | {act / fwd:.2f} |")


if __name__ == "__main__":
    main()
