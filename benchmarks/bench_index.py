"""Indexing throughput against the network's own batched forward throughput on this machine.

    python benchmarks/bench_index.py [--device auto] [--images 96] [--batch-size 32] [--model alexnet2012]

Writes synthetic JPEG photos (640×480) to a temporary folder, then measures (1) the network alone:
batches of already-preprocessed tensors through ``net.activations(x, upto="fc7")``, images per
second; (2) ``build_index`` on the folder from scratch (digest, decode, preprocess on a thread
pool, forward, per-channel maxima, SQLite writes), images per second. Prints the ratio (the goal
is at least 0.8: decoding hidden behind compute). Not a test: nothing passes or fails.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_attribution import machine, synthetic_photo  # noqa: E402

import alexnet_viz as av  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--model", default="alexnet2012")
    p.add_argument("--images", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    net = av.load_network(args.model, "untrained", args.device)
    print(machine(net.device))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        base = synthetic_photo(640).resize((640, 480))
        for i in range(args.images):
            base.rotate(i * 7, fillcolor=(i * 2 % 256, 90, 160)).save(folder / f"{i:05d}.jpg", quality=90)
        x = torch.cat([net.preprocess(base)] * args.batch_size)  # (B, 3, crop, crop)
        with torch.no_grad():
            net.activations(x, upto="fc7")  # warm-up
            if net.device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            batches = max(1, args.images // args.batch_size)
            for _ in range(batches):
                net.activations(x, upto="fc7")
            if net.device.type == "cuda":
                torch.cuda.synchronize()
            forward = batches * args.batch_size / (time.perf_counter() - t)
        report = av.build_index(folder, net, Path(tmp) / "ix", batch_size=args.batch_size)
    print(f"{args.model}, {args.images} photos of 640×480 (JPEG), batches of {args.batch_size}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"network alone (preprocessed batches, up to fc7): {forward:.1f} images/s")
    print(f"build_index (digest, decode, preprocess, forward, store): {report.images_per_second:.1f} images/s")
    print(f"ratio index ÷ forward: {report.images_per_second / forward:.2f}")


if __name__ == "__main__":
    main()
