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
    """An attribution map of IMAGE, overlaid on the crop the network sees, written as a PNG."""
    from . import heatmaps
    from .attribution import ATTRIBUTION_METHODS, Contrast, explain, find_class, get_method
    from .images import load_image
    from .network import class_names, load_network

    if args.list:
        for m in ATTRIBUTION_METHODS.values():
            params = ", ".join(f"{p.name}={p.default}" for p in m.params) or "no parameters"
            hooks = "; uses hooks" if m.uses_hooks else ""
            print(f"{m.name:22} {m.title} ({params}; cost: {m.cost}{hooks})")
        return 0
    if not args.image:
        raise ValueError("give an image: alexnet-viz saliency IMAGE --method M --out FILE.png "
                         "(or --list to see the methods).")
    if not args.out:
        raise ValueError("say where to write the picture with --out FILE.png.")
    method = get_method(args.method)
    params = {}
    for item in args.param:
        name, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"--param takes NAME=VALUE (e.g. steps=64); got {item!r}.")
        params[name.strip()] = value.strip()  # text; the method's Param.check converts it
    method.resolve(params)  # a bad parameter is reported before any loading
    names = class_names(args.model)  # mistakes in class names are reported before any loading
    target = None
    if args.target is not None:
        target = find_class(names, args.target)
    if args.versus is not None:
        if target is None:
            raise ValueError("--versus B needs --target A: the map then shows why A rather than B.")
        target = Contrast(target, find_class(names, args.versus))
    img = load_image(args.image)
    net = load_network(args.model, args.weights, args.device)

    shown: list[int] = []

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() and total > 1 and done not in shown:
            shown.append(done)
            print(f"\r{method.name}: {done}/{total} passes", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    e = explain(net, net.preprocess(img), method.name, target, progress=progress, **params)
    sign = args.sign or method.sign
    picture = heatmaps.render(e.raw, net.view(img), sign=sign, percentile=args.percentile,
                              opacity=args.opacity)
    with open(args.out, "wb") as f:
        f.write(heatmaps.to_png(picture))
    if args.npy:
        import numpy as np

        np.save(args.npy, e.raw)
    extra = f"; IG delta {e.delta:+.3g} of {e.score - e.baseline_score:+.3g}" if e.delta is not None else ""
    print(f"{args.out}: {method.title} for {e.target_label!r} (score {e.score:.4g}; {sign} values, "
          f"{args.percentile:g}th percentile clip; weights: {net.weights}{extra})")
    return 0


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
    s.add_argument("--target", default=None,
                   help="class index or name (a unique part of it will do); default: the top prediction")
    s.add_argument("--versus", default=None, metavar="CLASS",
                   help="contrast: explain why --target rather than this class")
    s.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a method parameter, e.g. steps=64 or layer=conv3 (repeatable; see --list)")
    s.add_argument("--model", choices=models, default="alexnet2012")
    s.add_argument("--weights", default="pretrained", help="pretrained, untrained, or a file path")
    s.add_argument("--device", default="auto")
    s.add_argument("--sign", choices=("positive", "negative", "absolute", "signed"), default=None,
                   help="which values to show; default: the method's usual choice")
    s.add_argument("--percentile", type=float, default=99.0, help="clip colours at this percentile")
    s.add_argument("--opacity", type=float, default=0.6, help="0 shows the photo, 1 the map")
    s.add_argument("--out", default=None, help="the PNG to write")
    s.add_argument("--npy", default=None, help="also save the raw (C, H, W) attribution here")
    s.add_argument("--list", action="store_true", help="list the methods and their parameters")
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
