"""Time what one stroke on the Paper lab's canvas costs the server: reading the canvas's PNG
(454×454, the crop drawn at 2×), compositing it over the crop, and ``painted_effect`` as the
page calls it (the photo's activations given, so only the painted crop runs, every activation
kept), beside one plain forward pass of one image and ``painted_effect`` without them (both
crops as a batch of two).

    python benchmarks/bench_paint.py [--device auto] [--repeats 20]

Prints the machine, then per variant the median milliseconds of each step and the median ratio
of the whole stroke to one forward pass, each ratio taken within one round of all the steps (the
steps run round-robin, so a load that drifts affects both sides). Not a test: nothing passes or
fails.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_attribution import machine, synthetic_photo, timed  # noqa: E402

from alexnet_viz import lab, painting  # noqa: E402
from alexnet_viz.network import load_network, pick_device  # noqa: E402


def canvas_png(side: int) -> bytes:
    """A canvas's strokes: a grey block over a third of it, the rest transparent."""
    a = np.zeros((side, side, 4), np.uint8)
    a[side // 4: side // 2, side // 5: 3 * side // 5] = (128, 128, 128, 255)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    img = synthetic_photo(400)
    print(f"{machine(pick_device(args.device))}\n")
    print("| variant | read PNG (ms) | composite (ms) | painted_effect (ms) | forward (ms) | stroke ÷ forward "
          "| without the photo's activations ÷ forward |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for model in ("alexnet2012", "torchvision"):
        net = load_network(model, weights="untrained", device=args.device)
        view = net.view(img)
        png = canvas_png(2 * view.size[0])
        rgba = painting.read_painting(png)
        painted = painting.paint_over(view, rgba)
        x = net.preprocess(img)
        with torch.no_grad():
            acts = {k: v[0].cpu().numpy() for k, v in net.activations(x).items()}  # as the app keeps them
            steps = {"read": lambda: painting.read_painting(png), "composite": lambda: painting.paint_over(view, rgba),
                     "effect": lambda: lab.painted_effect(net, view, painted, before=acts),
                     "forward": lambda: net(x), "two": lambda: lab.painted_effect(net, view, painted)}
            for fn in steps.values():
                fn()  # warm up
            # round-robin: on a shared machine the load drifts, so each ratio is taken within a round
            rounds = [{k: timed(fn, net.device, 1, warm_up=False)[0] for k, fn in steps.items()}
                      for _ in range(args.repeats)]
        ms = {k: statistics.median(r[k] for r in rounds) * 1000 for k in steps}
        stroke = statistics.median((r["read"] + r["composite"] + r["effect"]) / r["forward"] for r in rounds)
        two = statistics.median(r["two"] / r["forward"] for r in rounds)
        print(f"| {model} | {ms['read']:.1f} | {ms['composite']:.1f} | {ms['effect']:.1f} | {ms['forward']:.1f} "
              f"| {stroke:.2f} | {two:.2f} |")


if __name__ == "__main__":
    main()
