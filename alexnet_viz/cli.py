"""The command line: ``python -m alexnet_viz …`` and ``alexnet-viz …``.

Every user mistake (bad image, bad weights, bad argument) ends with exit status 2 and one line
on stderr; no traceback.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from .architecture import ARCHITECTURES


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (and exit status 2), not a usage dump."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _shape(shape) -> str:
    return "×".join(map(str, shape)) if shape is not None else "—"


def _shapes_table(arch, size: int, rows) -> str:
    """The walkthrough as an aligned plain-text table, problems listed beneath it."""
    from .walkthrough import total_params

    header = ("layer", "kind", "output", "params", "MACs", "RF size/jump", "towers", "formula")
    lines = []
    for r in rows:
        rf = r.receptive_field
        lines.append((
            r.name + ("" if r.problem is None else " !"),
            r.kind,
            _shape(r.output_shape),
            f"{r.params:,}" if r.params else "",
            f"{r.macs:,}" if r.macs else "",
            f"{rf.size:g}/{rf.jump:g}" if rf is not None else "",
            "+".join(map(str, r.towers)) if r.towers else "",
            r.formula,
        ))
    widths = [max(len(row[i]) for row in (header, *lines)) for i in range(len(header) - 1)]
    right = {3, 4, 5}  # numbers line up on the right

    def fmt(row) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells + [row[-1]]).rstrip()

    runs = all(r.output_shape is not None for r in rows)
    cost = (f"{sum(r.macs for r in rows):,} multiply-accumulates" if runs
            else "it cannot run at this size (the reason is at the end)")
    out = [f"{arch.title}",
           f"model {arch.name}, input {size}×{size}×{arch.in_channels}: {total_params(rows):,} parameters; {cost}",
           "", fmt(header), fmt(["-" * w for w in widths] + ["-" * 7])]
    out += [fmt(row) for row in lines]
    problems, blocked = [], None
    for r in rows:
        if r.problem is None:
            continue
        if r.output_shape is None or r.kind == "flatten":
            blocked = blocked or r.problem
        else:
            problems.append(f"  ! {r.name}: {r.problem}")
    if problems or blocked:
        out.append("")
        out += problems
        if blocked:
            out.append(f"  ! {blocked}")
    return "\n".join(out)


def cmd_shapes(args: argparse.Namespace) -> int:
    """Print the walkthrough; a size the network cannot take is shown, not an error (exit 0)."""
    from .architecture import get_architecture
    from .walkthrough import total_params, walkthrough

    arch = get_architecture(args.model)
    size = arch.input_size if args.input_size is None else args.input_size
    rows = walkthrough(arch, size)
    if args.json:
        print(json.dumps({"model": arch.name, "input_size": size, "total_params": total_params(rows),
                          "layers": [r.to_dict() for r in rows]}, indent=2))
    else:
        print(_shapes_table(arch, size, rows))
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """Classify one image: the top-K classes and their probabilities."""
    from .architecture import get_architecture
    from .images import load_image
    from .network import load_network

    if args.top < 1:
        raise ValueError(f"--top {args.top} asks for no classes; give a number of at least 1.")
    get_architecture(args.model)  # an unknown model is named before any work is done
    img = load_image(args.image)  # before the network: a bad image should fail fast
    progress = None
    if args.weights == "pretrained":  # a first run downloads 233 MB: show it, or it looks hung
        from .weights import source

        progress = _ProgressBar(f"{args.model}: downloading {source(args.model).filename}")
    net = load_network(args.model, weights=args.weights, device=args.device, progress=progress)
    top = net.predict(net.preprocess(img), top=args.top)
    crops = None
    if args.ten_crop:
        from .lab import ten_crop

        crops = ten_crop(net, img)
    if args.json:
        out = {"model": net.name, "weights": net.weights, "device": str(net.device), "top": _top_json(top)}
        if crops is not None:
            out["ten_crop"] = {
                "square": list(crops.square), "resized_size": list(crops.resized_size),
                "top": _top_json(_ranked(crops.probs, net.categories, args.top)),
                "crops": [{"crop": name, "top1": _top_json(_ranked(p, net.categories, 1))[0]}
                          for name, p in zip(crops.names, crops.crop_probs)]}
        print(json.dumps(out, indent=2))
    else:
        print(f"{args.image}: {net.name}, weights {net.weights}, on {net.device}")
        _print_top(top)
        if crops is not None:
            (x0, y0, x1, y1), (w, h) = crops.square, crops.resized_size
            print(f"ten-crop average (paper §4.1: the four corners of the central {x1 - x0}×{y1 - y0} square "
                  f"(x {x0}-{x1}, y {y0}-{y1} of the {w}×{h} resized photo), the centre and their mirrors):")
            _print_top(_ranked(crops.probs, net.categories, args.top))
    return 0


def _ranked(probs, categories: list[str], k: int) -> list[tuple[int, str, float]]:
    """[(index, label, probability)] of the k most probable classes of a (classes,) array."""
    import numpy as np

    idx = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), categories[int(i)], float(probs[i])) for i in idx]


def _top_json(top) -> list[dict]:
    return [{"index": i, "label": label, "probability": p} for i, label, p in top]


def _print_top(top) -> None:
    for rank, (i, label, p) in enumerate(top, 1):
        print(f"{rank:>3}. {100 * p:6.2f}%  {label} ({i})")


def _zero_channels(items: list[str]) -> dict[str, list[int]]:
    """--zero conv5:1,2,3 (repeatable) -> {"conv5": [1, 2, 3]}."""
    out: dict[str, list[int]] = {}
    for item in items:
        layer, colon, chans = item.partition(":")
        try:
            out.setdefault(layer.strip(), []).extend(int(c) for c in chans.split(",") if c.strip())
        except ValueError:
            raise ValueError(f"--zero takes LAYER:CHANNELS, e.g. conv5:3,17,40; got {item!r}.") from None
        if not colon or not out[layer.strip()]:
            raise ValueError(f"--zero takes LAYER:CHANNELS, e.g. conv5:3,17,40; got {item!r}.")
    return out


def cmd_ablate(args: argparse.Namespace) -> int:
    """Change one of the paper's choices and show the top classes before and after."""
    from .architecture import get_architecture
    from .images import load_image
    from .lab import ABLATE_SETTINGS, ablation_effect, knocked_out
    from .network import load_network

    if args.top < 1:
        raise ValueError(f"--top {args.top} asks for no classes; give a number of at least 1.")
    change = {k: getattr(args, k) for k in ABLATE_SETTINGS if k != "zero_channels"}
    change["zero_channels"] = _zero_channels(args.zero)
    changes = {k: s for k, s in ABLATE_SETTINGS.items() if k != "from_layer"}  # from_layer only places tower_off
    if all(change[k] == s.unchanged for k, s in changes.items()):
        flags = [s.flag + (" " + "|".join(c for c in s.choices if c != s.unchanged) if s.unchanged else "")
                 for s in changes.values()]  # e.g. --lrn paper|k2|off
        raise ValueError(f"nothing to change: give {', '.join(flags[:-1])} or {flags[-1]}.")
    if args.from_layer != "conv1" and args.tower_off is None:
        raise ValueError(f"--from-layer {args.from_layer} says where a knocked-out tower starts: add --tower-off gpu1 or gpu2.")
    knocked_out(get_architecture(args.model), args.tower_off, args.from_layer)  # a sentence before any loading
    img = load_image(args.image)
    net = load_network(args.model, weights=args.weights, device=args.device)
    e = ablation_effect(net, net.preprocess(img), **change)
    top = e.top_class
    defaults = {k: s.unchanged for k, s in ABLATE_SETTINGS.items()}
    defaults["from_layer"] = None if args.tower_off else args.from_layer  # named only with a tower knocked out
    asked = {k: v for k, v in change.items() if v != defaults[k]}  # only what was changed
    if args.json:
        print(json.dumps({
            "model": net.name, "weights": net.weights, "device": str(net.device), "change": asked,
            "before": _top_json(e.top("before", args.top)), "after": _top_json(e.top("after", args.top)),
            "top_class": {"index": top, "label": net.categories[top], "probability_before": float(e.before[top]),
                          "probability_after": float(e.after[top]), "change": e.change()}}, indent=2))
    else:
        print(f"{args.image}: {net.name}, weights {net.weights}; changed: "
              + ", ".join(f"{k}={v}" for k, v in asked.items()))
        print("before:")
        _print_top(e.top("before", args.top))
        print("after:")
        _print_top(e.top("after", args.top))
        print(f"{net.categories[top]} ({top}): {100 * e.before[top]:.2f}% -> {100 * e.after[top]:.2f}% "
              f"({100 * e.change():+.2f} points)")
    return 0


def app_path() -> Path:
    """Where the Streamlit app lives: app/streamlit_app.py beside the package, in a source checkout."""
    return Path(__file__).resolve().parent.parent / "app" / "streamlit_app.py"


def cmd_serve(args: argparse.Namespace) -> int:
    """Start the web app: ``streamlit run app/streamlit_app.py`` with this Python."""
    app = app_path()
    if not app.is_file():
        raise ValueError(f"The app is not where serve looks for it ({app}): serve runs from a source "
                         f"checkout of AlexNet Explorer, which has app/ beside alexnet_viz/.")
    if importlib.util.find_spec("streamlit") is None:
        raise ValueError("Streamlit is not installed in this Python: run `make run`, or "
                         "`pip install -r requirements.txt`.")
    if args.port is not None and not 1 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not a port number; use one from 1 to 65535.")
    cmd = [sys.executable, "-m", "streamlit", "run", str(app)]
    if args.port is not None:
        cmd += ["--server.port", str(args.port)]
    # From the checkout's root, so Streamlit finds .streamlit/config.toml.
    return _run_app(cmd, cwd=app.parent.parent)


def _run_app(cmd: list[str], cwd: Path) -> int:
    """Hand the terminal to Streamlit: on POSIX it replaces this process, so Ctrl-C and a process
    manager's SIGTERM reach the server itself and no orphan is left behind."""
    if os.name == "posix":
        os.chdir(cwd)
        os.execv(cmd[0], cmd)
    return subprocess.call(cmd, cwd=cwd)  # pragma: no cover - Windows


class _ProgressBar:
    """progress(done, total) -> a one-line bar on stderr: bytes, percentage, speed, time left."""

    def __init__(self, label: str, stream=None, unit: str = "MB"):
        import time

        self.label, self.stream, self.clock = label, stream or sys.stderr, time.monotonic
        self.unit = unit  # "MB" counts bytes; any other word counts items (e.g. "images")
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
        if total and self.unit != "MB":
            fill = int(30 * done / total)
            left = (total - done) / speed if speed > 0 else float("inf")
            eta = "done" if finished else f"~{left:.0f} s left" if left < float("inf") else ""
            line = (f"{self.label} [{'#' * fill}{'.' * (30 - fill)}] {done}/{total} {self.unit} "
                    f"{100 * done / total:3.0f}%  {speed:.1f} {self.unit}/s  {eta}")
        elif total:
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
    """An attribution map of IMAGE, overlaid on the crop the network sees, written as a PNG."""
    from .attribution import ATTRIBUTION_METHODS, Contrast, explain, find_class, get_method
    from .images import load_image
    from .network import class_names
    from .network import load_network
    from .render import attribution_picture, png_bytes

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
    picture = attribution_picture(e.raw, net.view(img), sign=sign, percentile=args.percentile,
                                  opacity=args.opacity)
    with open(args.out, "wb") as f:
        f.write(png_bytes(picture))
    if args.npy:
        import numpy as np

        np.save(args.npy, e.raw)
    extra = f"; IG delta {e.delta:+.3g} of {e.score - e.baseline_score:+.3g}" if e.delta is not None else ""
    print(f"{args.out}: {method.title} for {e.target_label!r} (score {e.score:.4g}; {sign} values, "
          f"{args.percentile:g}th percentile clip; weights: {net.weights}{extra})")
    return 0


def cmd_lesson(args: argparse.Namespace) -> int:
    """The eight-step lesson for IMAGE as one self-contained HTML file (a handout)."""
    from .handout import lesson_html
    from .images import load_image

    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give the file to write, e.g. {out / 'lesson.html'}.")
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: the folder {out.parent} does not exist.")
    img = load_image(args.image)  # before the network: a bad image should fail fast
    net = _network_for(args)
    page = lesson_html(net, img, args.mode, source=Path(args.image).name)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # never a half-written handout
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"{out}: the eight-step lesson for {args.image} ({net.name}, weights {net.weights}, "
          f"{len(page.encode()) / 1e6:.1f} MB; opens offline, prints one step a page)")
    return 0


def _network_for(args: argparse.Namespace):
    """The network a folder command asked for, with a download bar for first-time weights."""
    from .architecture import get_architecture
    from .network import load_network

    get_architecture(args.model)
    progress = None
    if args.weights == "pretrained":
        from .weights import source

        progress = _ProgressBar(f"{args.model}: downloading {source(args.model).filename}")
    return load_network(args.model, weights=args.weights, device=args.device, progress=progress)


def _check_batching(args: argparse.Namespace) -> None:
    if args.batch_size < 1 or (args.workers is not None and args.workers < 1):
        raise ValueError(f"--batch-size and --workers take a number of at least 1 "
                         f"(got {args.batch_size} and {args.workers}).")


def cmd_index(args: argparse.Namespace) -> int:
    """Index every photo under FOLDER into OUT (created, resumed or brought up to date)."""
    from .index import build_index

    _check_batching(args)
    if not Path(args.folder).is_dir():
        raise ValueError(f"{args.folder} is not a folder: give a folder of photos.")
    net = _network_for(args)
    report = build_index(args.folder, net, args.out, progress=_ProgressBar("indexing", unit="images"),
                         batch_size=args.batch_size, workers=args.workers, ray=args.ray)
    if args.json:
        print(json.dumps({"index": str(Path(args.out).absolute()), "folder": report.folder,
                          "indexed": report.indexed, "reused": report.reused, "removed": report.removed,
                          "images": report.images, "seconds": round(report.seconds, 3),
                          "images_per_second": round(report.images_per_second, 3),
                          "skipped": [{"path": p, "reason": r} for p, r in report.skipped]}, indent=2))
    else:
        for path, reason in report.skipped[:20]:
            print(f"  skipped {path}: {reason}", file=sys.stderr)
        if len(report.skipped) > 20:
            print(f"  … and {len(report.skipped) - 20} more (all are listed in the index: "
                  f"alexnet_viz.open_index(...).skipped)", file=sys.stderr)
        print(f"{args.out}: {report}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Top-1 / top-5 accuracy on a folder with one subfolder per class (ImageNet's layout)."""
    from .index import evaluate
    from .index.evaluate import class_folders

    _check_batching(args)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise ValueError(f"{args.folder} is not a folder: give a folder with one subfolder per class.")
    from .network import class_names

    class_folders(folder, class_names(args.model))  # wrong folder names are said before any loading
    net = _network_for(args)
    result = evaluate(folder, net, progress=_ProgressBar("evaluating", unit="images"),
                      batch_size=args.batch_size, workers=args.workers, mode=args.mode, ten_crop=args.ten_crop)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(f"{args.folder}: {net.name}, weights {net.weights}: {result.images} images, "
              f"top-1 {result.top1:.2%}, top-5 {result.top5:.2%} ({result.preprocessing}; "
              f"{len(result.skipped)} files skipped)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="alexnet-viz", description="AlexNet Explorer from the command line.")
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
    s.add_argument("--ten-crop", action="store_true",
                   help="also average the softmax over ten crops (the four corners of the central 256×256 square, "
                        "the centre, their mirrors; paper §4.1)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("ablate", help="change one of the paper's choices and compare the top classes")
    s.add_argument("image")
    s.add_argument("--model", choices=models, default="alexnet2012")
    s.add_argument("--weights", default="pretrained", help="pretrained, untrained, or a file path")
    s.add_argument("--device", default="auto")
    from .lab import ABLATE_SETTINGS

    for setting in ABLATE_SETTINGS.values():  # one flag per keyword of lab.ablate, from the lab's registry
        if setting.repeatable:
            s.add_argument(setting.flag, action="append", default=[], metavar=setting.metavar, help=setting.help)
        else:
            s.add_argument(setting.flag, choices=tuple(setting.choices) or None, default=setting.unchanged,
                           help=setting.help)
    s.add_argument("--top", type=int, default=5)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_ablate)

    s = sub.add_parser("lesson", help="the eight-step lesson for an image as one self-contained HTML file")
    s.add_argument("image")
    s.add_argument("--out", required=True, help="the HTML file to write (pictures embedded; opens offline)")
    s.add_argument("--model", choices=models, default="alexnet2012")
    s.add_argument("--weights", default="pretrained", help="pretrained, untrained, or a file path")
    s.add_argument("--device", default="auto")
    s.add_argument("--mode", choices=["aspect", "warp"], default="aspect",
                   help="preprocessing: keep the aspect ratio (default), or warp to 256×256 as Caffe did")
    s.set_defaults(func=cmd_lesson)

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

    for name, func, text in (("index", cmd_index, "index a folder of photos: top images per channel, fc7 neighbours"),
                             ("evaluate", cmd_evaluate, "top-1 / top-5 accuracy on a folder with a subfolder per class")):
        s = sub.add_parser(name, help=text)
        s.add_argument("folder")
        if name == "index":
            s.add_argument("--out", required=True, help="the index folder (created, resumed or updated)")
            s.add_argument("--ray", choices=["local", "auto"], default=None,
                           help="decode and run the network on Ray Data workers: 'auto' joins the running "
                                "cluster, 'local' starts one on this machine (needs pip install "
                                "'alexnet-viz[scale]')")
        else:
            s.add_argument("--mode", choices=["aspect", "warp"], default="aspect",
                           help="preprocessing: keep the aspect ratio (default), or warp to 256×256 as Caffe "
                                "did when bvlc_alexnet's 57.1%% / 80.2%% were measured")
            s.add_argument("--ten-crop", action="store_true",
                           help="rank classes by the softmax averaged over ten crops (the four corners of the "
                                "central 256×256 square, the centre, mirrors; paper §4.1) instead of the centre "
                                "crop alone")
        s.add_argument("--model", choices=[m for m in models if m != "keras-tutorial"] if name == "index" else models,
                       default="alexnet2012")
        s.add_argument("--weights", default="pretrained", help="pretrained, untrained, or a file path")
        s.add_argument("--device", default="auto")
        s.add_argument("--batch-size", type=int, default=32)
        s.add_argument("--workers", type=int, default=None, help="decoding threads (default: CPU cores + 2, at most 8)")
        s.add_argument("--json", action="store_true")
        s.set_defaults(func=func)
    return p


def main(argv: list[str] | None = None) -> int:
    from .images import ImageError
    from .weights import WeightsError

    from .network import full_float32

    args = build_parser().parse_args(argv)
    full_float32()  # the command line owns its process: GPU numbers as exact as the CPU's
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `alexnet-viz shapes | head`: the reader left, nothing to report
        sys.stderr.close()
        return 0
    except (ImageError, WeightsError, ValueError, OSError) as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message held
        print(f"alexnet-viz {args.command}: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alexnet-viz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
