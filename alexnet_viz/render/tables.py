"""Rows for tables and CSV files, as plain lists of dicts; ``encode.csv_bytes`` writes them.

Per-class probabilities and ranks, per-channel numbers, the walkthrough flattened, the variants
compared."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..architecture import ARCHITECTURES, Architecture, Layer, get_architecture
from ..walkthrough import WalkRow, walkthrough

KIND_WORD = {"conv": "conv", "lrn": "LRN", "maxpool": "max-pool", "adaptiveavgpool": "avg-pool",
             "batchnorm": "BatchNorm", "linear": "fc", "relu": "ReLU", "dropout": "dropout",
             "flatten": "flatten", "softmax": "softmax"}


def shape_text(shape: tuple[int, ...] | None) -> str:
    """(96, 55, 55) -> "96×55×55"; None -> "—"."""
    return "—" if shape is None else "×".join(map(str, shape))


def class_ranks(probs: np.ndarray) -> np.ndarray:
    """(N,) 1-based rank of every class (1 = most probable; ties share a rank), from one sort."""
    ordered = np.sort(probs)
    return len(ordered) - np.searchsorted(ordered, probs, side="right") + 1  # 1 + how many are larger


def probability_rows(probs: np.ndarray, names: list[str]) -> list[dict]:
    """Every class's rank, name and probability, most probable first (ties in class order)."""
    ranks = class_ranks(probs)
    return [{"rank": int(ranks[i]), "class": names[i], "probability": float(probs[i])}
            for i in np.argsort(ranks, kind="stable")]


def channel_table(act: np.ndarray, arch: Architecture, layer: str) -> list[dict]:
    """Per channel of a (C, H, W) activation: its tower, mean, max and fraction of zeros, for a CSV."""
    flat = np.asarray(act).reshape(act.shape[0], -1)  # (C, H·W)
    return [{"channel": c, "tower": arch.tower_of(layer, c),
             "mean": float(v.mean()), "max": float(v.max()), "zero fraction": float(np.mean(v == 0))}
            for c, v in enumerate(flat)]


def walk_records(rows: list[WalkRow]) -> list[dict]:
    """Walkthrough rows flattened for a table / CSV."""
    out = []
    for r in rows:
        rf = r.receptive_field
        out.append({
            "layer": r.name, "kind": KIND_WORD.get(r.kind, r.kind),
            "input": shape_text(r.input_shape), "output": shape_text(r.output_shape),
            "output size": r.formula, "parameters": r.params, "multiply-adds": r.macs,
            "memory (KiB)": round(r.memory_bytes / 1024, 1),
            "receptive field (px)": None if rf is None else rf.size,
            "jump (px)": None if rf is None else rf.jump,
            "towers": "" if not r.towers else " + ".join(map(str, r.towers)),
            "problem": r.problem or "",
        })
    return out


@dataclass(frozen=True)
class Comparison:
    """A side-by-side table of variants: one row per (stage, aspect), and where they differ."""

    variants: tuple[str, ...]
    rows: list[dict]  # {"stage", "aspect", <variant>: text, ...}
    differs: list[bool]  # per row: do the variants disagree?


def _stages(arch: Architecture) -> dict[str, list[Layer]]:
    """Layers grouped by the conv / fc layer that opens each stage (conv1 → relu1 → norm1 → pool1…)."""
    stages: dict[str, list[Layer]] = {}
    current = None
    for layer in arch.layers:
        if layer.kind in ("conv", "linear"):
            current = layer.name
            stages[current] = []
        if current is not None:
            stages[current].append(layer)
    return stages


def _describe(stage: list[Layer], rows: dict[str, WalkRow]) -> dict[str, str]:
    head = stage[0]
    d: dict[str, str] = {}
    if head.kind == "conv":
        d["kernels"] = f"{head.out_channels} × {head.kernel}×{head.kernel}"
        d["stride, padding"] = f"stride {head.stride}, padding {head.padding}"
    else:
        d["kernels"] = f"{head.out_channels} units"
        d["stride, padding"] = "—"
    if head.groups > 1:
        d["groups / towers"] = f"{head.groups} groups: each tower reads only its own half"
    elif head.towers == 2:
        d["groups / towers"] = ("two towers, each reading both" if head.cross_tower
                                else "two towers, each seeing the whole input")
    elif head.cross_tower:
        d["groups / towers"] = "reads both towers"
    else:
        d["groups / towers"] = "one tower"
    norms = [x for x in stage if x.kind in ("lrn", "batchnorm")]
    d["normalisation"] = ", ".join(
        f"LRN (n={x.lrn.size}, α={x.lrn.alpha:g}, β={x.lrn.beta:g}, k={x.lrn.k:g})" if x.kind == "lrn"
        else "BatchNorm"
        for x in norms) or "none"
    pools = [x for x in stage if x.kind in ("maxpool", "adaptiveavgpool")]
    d["pooling"] = ", ".join(
        f"max {x.kernel}×{x.kernel} stride {x.stride}" + (" (overlapping)" if x.kernel > x.stride else "")
        if x.kind == "maxpool" else f"adaptive average to {x.kernel}×{x.kernel}" for x in pools) or "none"
    d["order"] = " → ".join(KIND_WORD.get(x.kind, x.kind) + (f" {x.p:g}" if x.kind == "dropout" else "")
                            for x in stage if x.kind != "flatten")
    last = next((rows[x.name] for x in reversed(stage)
                 if x.name in rows and x.kind not in ("flatten", "dropout")), None)
    d["output (at its own input size)"] = shape_text(last.output_shape) if last else "—"
    d["parameters"] = f"{sum(rows[x.name].params for x in stage if x.name in rows):,}"
    return d


def variant_comparison(variants: tuple[str, ...] = tuple(ARCHITECTURES)) -> Comparison:
    """Every stage and aspect of the given variants side by side, from their tables alone."""
    archs = [get_architecture(v) for v in variants]
    described: list[dict[str, dict[str, str]]] = []
    for arch in archs:
        rows = {r.name: r for r in walkthrough(arch)}
        d = {"input": {"size": f"{arch.input_size}×{arch.input_size}×{arch.in_channels}"}}
        d.update({name: _describe(stage, rows) for name, stage in _stages(arch).items()})
        d["whole network"] = {"parameters": f"{sum(r.params for r in rows.values()):,}",
                              "classes": str(arch.num_classes),
                              "conv layers": str(len(arch.conv_layers()))}
        described.append(d)
    stages = list(dict.fromkeys(s for d in described for s in d))
    stages.sort(key=lambda s: (s == "whole network", s != "input"))  # input first, totals last
    out_rows, differs = [], []
    for stage in stages:
        aspects = list(dict.fromkeys(a for d in described for a in d.get(stage, {})))
        for aspect in aspects:
            vals = [d.get(stage, {}).get(aspect, "—") for d in described]
            out_rows.append({"stage": stage, "aspect": aspect, **dict(zip(variants, vals))})
            differs.append(len(set(vals)) > 1)
    return Comparison(tuple(variants), out_rows, differs)
