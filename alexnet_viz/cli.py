"""The command line: ``python -m alexnet_viz …`` and ``alexnet-viz …``.

Every user mistake (bad image, bad weights, bad argument) ends with exit status 2 and one line
on stderr; no traceback.
"""
from __future__ import annotations

import argparse
import json
import sys

from .architecture import ARCHITECTURES


def cmd_shapes(args: argparse.Namespace) -> int:
    raise NotImplementedError("shapes")


def cmd_predict(args: argparse.Namespace) -> int:
    raise NotImplementedError("predict")


def cmd_serve(args: argparse.Namespace) -> int:
    raise NotImplementedError("serve")


class _ProgressBar:
    """progress(done, total) -> a one-line bar on stderr: bytes, percentage, speed, time left."""

    def __init__(self, label: str, stream=None):
        import time

        self.label, self.stream, self.clock = label, stream or sys.stderr, time.monotonic
        self.start = self.clock()
        self.last = -1.0
        self.tty = getattr(self.stream, "isatty", lambda: False)()

    def __call__(self, done: int, total: int | None) -> None:
        now = self.clock()
        finished = total is not None and done >= total
        # Redraw at most 5 times a second on a terminal, every 10 s in a log.
        if not finished and now - self.last < (0.2 if self.tty else 10.0):
            return
        self.last = now
        mb = done / 1e6
        speed = done / max(now - self.start, 1e-6)
        if total:
            width = 30
            fill = int(width * done / total)
            left = (total - done) / speed if speed > 0 else float("inf")
            eta = "done" if finished else f"~{left:.0f} s left" if left < float("inf") else ""
            line = (f"{self.label} [{'#' * fill}{'.' * (width - fill)}] {mb:.1f}/{total / 1e6:.1f} MB "
                    f"{100 * done / total:3.0f}%  {speed / 1e6:.1f} MB/s  {eta}")
        else:
            line = f"{self.label} {mb:.1f} MB  {speed / 1e6:.1f} MB/s"
        end = "\n" if finished or not self.tty else ""
        print(("\r" if self.tty else "") + line, end=end, file=self.stream, flush=True)


def cmd_download(args: argparse.Namespace) -> int:
    """Fetch, verify (and convert) pretrained weights into the cache, ahead of time."""
    from . import weights as W

    models = sorted({m for m, kind in W.SOURCES if kind == "pretrained"}) if args.model == "all" else [args.model]
    for model in models:
        src = W.source(model)
        if W.is_cached(model):
            print(f"{model}: checking the cached weights…", file=sys.stderr)
        elif not W.offline():  # offline, fetch says why nothing can be done
            print(f"{model}: downloading {src.url} (about {src.size_mib:.0f} MiB; {src.licence})",
                  file=sys.stderr)
        path = W.fetch(model, progress=_ProgressBar(src.filename))
        print(f"{model}: ready, verified: {path}")
    return 0


def cmd_convert_caffe(args: argparse.Namespace) -> int:
    """Convert a bvlc_alexnet-shaped .caffemodel into a torch state dict for alexnet2012."""
    from .weights import convert_caffemodel

    dst = convert_caffemodel(args.src, args.dst)
    print(f"wrote {dst}: an alexnet2012 state dict (conv1 converted from BGR to RGB); "
          f"use it with --model alexnet2012 --weights {dst}")
    return 0


def cmd_saliency(args: argparse.Namespace) -> int:
    raise NotImplementedError("saliency")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alexnet-viz", description="AlexNet Explorer from the command line.")
    sub = p.add_subparsers(dest="command", required=True)
    models = list(ARCHITECTURES)

    s = sub.add_parser("shapes", help="the layer-by-layer shape walkthrough")
    s.add_argument("--model", choices=models, default="alexnet2012")
    s.add_argument("--input-size", type=int, default=None)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_shapes)

    s = sub.add_parser("predict", help="classify an image")
    s.add_argument("image")
    s.add_argument("--model", choices=models, default="alexnet2012")
    s.add_argument("--weights", default="pretrained", help="pretrained, untrained, or a file path")
    s.add_argument("--top", type=int, default=5)
    s.add_argument("--device", default="auto")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("serve", help="start the web app")
    s.add_argument("--port", type=int, default=None)
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("download", help="fetch and verify pretrained weights ahead of time")
    s.add_argument("--model", choices=["alexnet2012", "torchvision", "all"], default="alexnet2012",
                   help="which pretrained weights (default: alexnet2012, Caffe's bvlc_alexnet)")
    s.set_defaults(func=cmd_download)

    s = sub.add_parser("convert-caffe", help="convert a .caffemodel into a torch state dict")
    s.add_argument("src", help="a bvlc_alexnet-shaped .caffemodel (either Caffe layout)")
    s.add_argument("dst", help="the torch file to write (or a folder to write it into)")
    s.set_defaults(func=cmd_convert_caffe)

    s = sub.add_parser("saliency", help="an attribution map for an image")
    s.add_argument("image", nargs="?")
    s.add_argument("--method", default="saliency")
    s.add_argument("--target", default=None)
    s.add_argument("--model", choices=models, default="alexnet2012")
    s.add_argument("--weights", default="pretrained")
    s.add_argument("--device", default="auto")
    s.add_argument("--out", default=None)
    s.add_argument("--list", action="store_true")
    s.set_defaults(func=cmd_saliency)
    return p


def main(argv: list[str] | None = None) -> int:
    from .images import ImageError
    from .weights import WeightsError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ImageError, WeightsError, ValueError, OSError) as exc:
        print(f"alexnet-viz {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alexnet-viz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
