"""Indexing throughput against the network's own batched forward throughput on this machine.

    python benchmarks/bench_index.py [--device auto] [--images 96] [--batch-size 32] [--model alexnet2012]
                                     [--repeats 3] [--ray local|auto]

Writes synthetic JPEG photos (640×480) to a temporary folder, then, ``--repeats`` times in turn:
(1) the network alone: batches of one already-preprocessed tensor through
``net.activations(x, upto="fc7")`` with torch's default threads, images per second (the
denominator); (2) ``build_index`` on the folder from scratch into a new index (digest, decode,
resize and crop on a thread pool, normalise, forward, per-channel maxima, SQLite writes), images
per second over the whole run. Interleaving the two keeps a machine shared with other jobs from
favouring one; it prints every round, the medians, the median of the rounds' ratios (the goal
is at least 0.8: decoding hidden behind compute) and the load average before and after. The CPU
seconds per image of each (process time, all threads) show what the load cannot: the work done.
With ``--ray``, (3) the same folder indexed on Ray Data (``build_index(..., ray=...)``, the
``scale`` extra), once, from scratch: images per second over the whole run, Ray's start
included, and when the first batch came back. (No rate "after the start" is printed: Ray's
workers run ahead before the first batch is handed back, so it would flatter.)
Not a test: nothing passes or fails.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_attribution import machine, synthetic_photo  # noqa: E402

import alexnet_viz as av  # noqa: E402


def forward_alone(net, x: torch.Tensor, images: int) -> tuple[float, float]:
    """(images/s, CPU s per image) of the network on ready batches, as many images as the index runs."""
    batches = max(1, images // x.shape[0])
    with torch.no_grad():
        net.activations(x, upto="fc7")  # warm-up
        if net.device.type == "cuda":
            torch.cuda.synchronize()
        t, c = time.perf_counter(), time.process_time()
        for _ in range(batches):
            net.activations(x, upto="fc7")
        if net.device.type == "cuda":
            torch.cuda.synchronize()
        n = batches * x.shape[0]
        return n / (time.perf_counter() - t), (time.process_time() - c) / n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--model", default="alexnet2012")
    p.add_argument("--images", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3, help="rounds of (network alone, build_index), interleaved")
    p.add_argument("--ray", choices=["local", "auto"], default=None, help="also index on Ray Data")
    args = p.parse_args()
    net = av.load_network(args.model, "untrained", args.device)
    print(machine(net.device))
    load_before = os.getloadavg()
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        base = synthetic_photo(640).resize((640, 480))
        for i in range(args.images):
            base.rotate(i * 7, fillcolor=(i * 2 % 256, 90, 160)).save(folder / f"{i:05d}.jpg", quality=90)
        x = torch.cat([net.preprocess(base)] * args.batch_size)  # (B, 3, crop, crop)
        print(f"{args.model}, {args.images} photos of 640×480 (JPEG), batches of {args.batch_size}, "
              f"torch threads {torch.get_num_threads()}")
        for r in range(args.repeats):
            forward, forward_cpu = forward_alone(net, x, args.images)
            c = time.process_time()
            report = av.build_index(folder, net, Path(tmp) / f"ix{r}", batch_size=args.batch_size)
            index_cpu = (time.process_time() - c) / max(1, report.indexed)
            rounds.append((forward, report.images_per_second, report.images_per_second / forward))
            print(f"round {r + 1}: network alone {forward:.1f} images/s ({forward_cpu * 1000:.0f} ms CPU each), "
                  f"build_index {report.images_per_second:.1f} images/s ({index_cpu * 1000:.0f} ms CPU each), "
                  f"ratio {report.images_per_second / forward:.2f}")
        if args.ray:
            seen: list[tuple[float, int]] = []
            t = time.perf_counter()
            on_ray = av.build_index(folder, net, Path(tmp) / "ix-ray", batch_size=args.batch_size, ray=args.ray,
                                    progress=lambda done, total: seen.append((time.perf_counter(), done)))
            first = next(s for s, d in seen if d > 0) - t
    forward, index, ratio = (statistics.median(col) for col in zip(*rounds))
    load_after = os.getloadavg()
    print(f"medians of {len(rounds)} rounds:")
    print(f"network alone (preprocessed batches, up to fc7): {forward:.1f} images/s")
    print(f"build_index (digest, decode, preprocess, forward, store): {index:.1f} images/s")
    print(f"ratio index ÷ forward: {ratio:.2f} (median of the rounds' ratios)")
    print(f"load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    if args.ray:
        print(f"build_index on Ray ({args.ray}): {on_ray.images_per_second:.1f} images/s over the run "
              f"({on_ray.seconds:.1f} s, Ray's start included; the first batch back after {first:.1f} s)")
        print(f"ratio Ray ÷ local build_index (the last round): {on_ray.images_per_second / report.images_per_second:.2f}")


if __name__ == "__main__":
    main()
