"""Accuracy on a labelled folder in ImageNet's layout: one subfolder per class.

A subfolder is named by the class's WordNet ID (``n01440764``) or by its name as
``net.categories`` spells it (``tench``; case does not matter). The WordNet IDs of the 1000
ILSVRC-2012 classes, in the networks' output order, ship in ``imagenet_wnids.txt``: they were
taken from the ILSVRC-2012 devkit's synset mapping (LOC_synset_mapping.txt) and checked offline:
1000 distinct IDs in sorted order (ILSVRC's class order), each line's first name equal to
torchvision's class name (997 of 1000; the other three differ only by a disambiguating suffix,
e.g. "crane" the bird), and the ten IDs torchvision's Imagenette dataset names map to those classes.

Images are preprocessed exactly as ``net.preprocess`` does (shorter side resized, one centre
crop); decoding runs on a thread pool beside the network, as for indexing.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

from .walk import Item, batches, load_item, walk

WNID = re.compile(r"^n\d{8}$")


@lru_cache(maxsize=1)
def imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 WordNet IDs in the networks' output order."""
    text = (Path(__file__).with_name("imagenet_wnids.txt")).read_text()
    return tuple(text.split())


@dataclass(frozen=True)
class Evaluation:
    """Accuracy of one network on one labelled folder; ``to_dict()`` is the CLI's JSON."""

    model: str
    weights: str
    images: int
    top1: float  # fraction, 0..1
    top5: float
    per_class: dict[str, dict[str, float]]  # folder name -> {"class", "index", "images", "top1", "top5"}
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    preprocessing: str = ""
    ten_crop: bool = False  # the softmax averaged over §4.1's ten crops, rather than the centre crop alone

    def to_dict(self) -> dict:
        return {"model": self.model, "weights": self.weights, "images": self.images, "top1": self.top1,
                "top5": self.top5, "per_class": self.per_class, "preprocessing": self.preprocessing,
                "ten_crop": self.ten_crop,
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped], "seconds": round(self.seconds, 3)}


def class_folders(folder: Path, categories: list[str]) -> dict[str, int]:
    """Subfolder name -> class index; unknown names are one sentence listing a few valid ones."""
    names = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    if not names:
        raise ValueError(f"{folder} has no subfolders: put each class's photos in a subfolder named by its "
                         f"WordNet ID (e.g. n01440764) or class name (e.g. {categories[0]!r}).")
    by_name = {c.lower(): i for i, c in enumerate(categories)}
    by_wnid = {w: i for i, w in enumerate(imagenet_wnids())} if len(categories) == 1000 else {}
    out, unknown = {}, []
    for name in names:
        i = by_wnid.get(name, by_name.get(name.lower()))
        if i is None:
            unknown.append(name)
        else:
            out[name] = i
    if unknown:
        wn = f"WordNet IDs such as {', '.join(imagenet_wnids()[:3])}, or " if by_wnid else ""
        raise ValueError(f"{len(unknown)} subfolder name(s) are not classes of this network: "
                         f"{', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''}. Name them by "
                         f"{wn}class names as the network spells them, such as "
                         f"{', '.join(repr(c) for c in categories[:3])}.")
    return out


def evaluate(folder: str | os.PathLike, net, progress: Callable[[int, int], None] | None = None,
             batch_size: int = 32, workers: int | None = None, mode: str = "aspect",
             ten_crop: bool = False) -> Evaluation:
    """Top-1 and top-5 accuracy of ``net`` on every photo under ``folder``'s class subfolders.

    ``mode`` is ``net.preprocess``'s: "aspect" (the default) or "warp", Caffe's reference pipeline
    with which bvlc_alexnet's published 57.1% / 80.2% were measured. ``ten_crop`` ranks classes by
    the softmax averaged over the paper's ten crops (§4.1: the four corners of the central square,
    the centre, and their mirrors, ``alexnet_viz.ten_crop``), the ten crops of a photo in the same forward pass as the batch's others."""
    from ..network import PREPROCESS_MODES

    if mode not in PREPROCESS_MODES:
        raise ValueError(f"Unknown preprocessing mode {mode!r}: use {' or '.join(PREPROCESS_MODES)}.")
    t0 = time.perf_counter()
    root = Path(folder).expanduser().absolute()
    if not root.is_dir():
        raise ValueError(f"{root} is not a folder: give a folder with one subfolder per class.")
    classes = class_folders(root, net.categories)
    files, labels, skipped = [], [], []
    for name, label in classes.items():
        found = walk(root / name)
        files += found.files
        labels += [(name, label)] * len(found.files)
        skipped += found.skipped

    if ten_crop:
        from ..lab import crop_tensor, ten_crops

        def prepare(img) -> torch.Tensor:
            return crop_tensor(net, ten_crops(net, img, mode))  # (10, 3, crop, crop)
    else:
        def prepare(img) -> torch.Tensor:
            return net.preprocess(img, mode)  # (1, 3, crop, crop)

    def job(path: Path) -> Item:
        return load_item(path, prepare, digest=False)

    hits = {name: [0, 0, 0] for name in classes}  # images, top1, top5
    done = 0
    if progress:
        progress(0, len(files))
    for start, items in zip(range(0, len(files), batch_size),
                            batches(files, job, batch_size, workers or min(8, (os.cpu_count() or 2) + 2))):
        ok = [(it, labels[start + i]) for i, it in enumerate(items) if it.error is None]
        skipped += [(it.path, it.error) for it in items if it.error is not None]
        if ok:
            with torch.no_grad():
                logits = net(torch.cat([it.x for it, _ in ok]).to(net.device))  # (B·crops, classes)
                if ten_crop:  # the mean of each photo's ten softmaxes ranks as the paper's test did
                    logits = torch.softmax(logits.float(), dim=1).view(len(ok), 10, -1).mean(dim=1)  # (B, classes)
            top5 = logits.topk(min(5, logits.shape[1]), dim=1).indices.cpu().numpy()  # (B, 5)
            for (_, (name, label)), row in zip(ok, top5):
                h = hits[name]
                h[0] += 1
                h[1] += int(row[0] == label)
                h[2] += int(label in row)
        done += len(items)
        if progress:
            progress(done, len(files))
    n = sum(h[0] for h in hits.values())
    cats = net.categories
    per_class = {name: {"class": cats[classes[name]], "index": classes[name], "images": h[0],
                        "top1": h[1] / h[0] if h[0] else 0.0, "top5": h[2] / h[0] if h[0] else 0.0}
                 for name, h in hits.items()}
    p = net.prep
    return Evaluation(net.name, net.weights, n, sum(h[1] for h in hits.values()) / n if n else 0.0,
                      sum(h[2] for h in hits.values()) / n if n else 0.0, per_class, sorted(skipped),
                      time.perf_counter() - t0,
                      (f"{PREPROCESS_MODES[mode].replace('256', str(p.resize))}, {p.crop}×{p.crop} "
                       f"(net.preprocess, mode={mode!r})" if not ten_crop else
                       f"{PREPROCESS_MODES[mode].replace('256', str(p.resize)).replace('the centre crop', '')}"
                       f"ten {p.crop}×{p.crop} crops (the four corners of the central {p.resize}×{p.resize} "
                       f"square, the centre, and their mirrors), softmax "
                       f"averaged (alexnet_viz.ten_crop, mode={mode!r})"), ten_crop)

