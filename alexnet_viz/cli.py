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


def cmd_download(args: argparse.Namespace) -> int:
    raise NotImplementedError("download")


def cmd_convert_caffe(args: argparse.Namespace) -> int:
    raise NotImplementedError("convert-caffe")


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
    s.add_argument("--model", choices=models, default="alexnet2012")
    s.set_defaults(func=cmd_download)

    s = sub.add_parser("convert-caffe", help="convert a .caffemodel into a torch state dict")
    s.add_argument("src")
    s.add_argument("dst")
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
