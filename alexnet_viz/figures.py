"""Plotly figures and numpy image helpers for the app. No Streamlit here: everything returns a
``plotly.graph_objects.Figure``, a numpy array, bytes, or plain rows for a table.

Colours are colour-blind safe: Okabe–Ito for categories (the two GPU towers among them),
viridis / cividis for sequential scales. Fonts are large enough for a projector.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image

from .architecture import ARCHITECTURES, Architecture, Layer, get_architecture
from .walkthrough import WalkRow, walkthrough

# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7",
}
TOWER_COLOURS = {"GPU 1": OKABE_ITO["blue"], "GPU 2": OKABE_ITO["vermillion"], "all": OKABE_ITO["bluish green"]}
FONT_SIZE = 18


def styled(fig: go.Figure, height: int | None = None) -> go.Figure:
    """The project's look: white background, large text, tight margins."""
    fig.update_layout(template="plotly_white", font=dict(size=FONT_SIZE), margin=dict(l=10, r=10, t=50, b=10),
                      hoverlabel=dict(font_size=FONT_SIZE - 2, bgcolor="white", font_color="black"))
    if height is not None:
        fig.update_layout(height=height)
    return fig


# -- numpy / image helpers ----------------------------------------------------------------------
def to_uint8(a: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Scale an array linearly so [lo, hi] (default: its min and max) maps to 0..255."""
    a = np.asarray(a, dtype=np.float32)
    lo = float(a.min()) if lo is None else lo
    hi = float(a.max()) if hi is None else hi
    if hi <= lo:
        return np.zeros(a.shape, np.uint8)
    return (np.clip((a - lo) / (hi - lo), 0, 1) * 255).round().astype(np.uint8)


def png_bytes(image: Image.Image | np.ndarray) -> bytes:
    """A PIL image or an (H, W) / (H, W, 3) array as PNG bytes, for a download button."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image if image.dtype == np.uint8 else to_uint8(image))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of an (H, W) or (H, W, C) array, so small tiles stay crisp."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def csv_bytes(rows: list[dict]) -> bytes:
    """Rows of a table (dicts with the same keys) as UTF-8 CSV."""
    import csv

    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue().encode("utf-8")


# -- predictions --------------------------------------------------------------------------------
def top_k_bar(probs: np.ndarray, categories: list[str], k: int = 5) -> go.Figure:
    """The k most probable classes as horizontal bars, the most probable on top."""
    idx = np.argsort(probs)[::-1][:k]
    names = [categories[i] for i in idx][::-1]
    vals = [float(probs[i]) for i in idx][::-1]
    fig = go.Figure(go.Bar(x=vals, y=names, orientation="h", marker_color=OKABE_ITO["blue"],
                           text=[f"{v:.1%}" for v in vals], textposition="auto",
                           hovertemplate="%{y}: %{x:.2%}<extra></extra>"))
    fig.update_xaxes(title="probability", tickformat=".1%", range=[0, max(vals) * 1.15 or 1])
    fig.update_layout(title=f"Top {k} classes")
    return styled(fig, height=80 + 60 * k)


def class_rank(probs: np.ndarray, index: int) -> int:
    """1-based rank of class ``index`` among all classes (1 = most probable)."""
    return int((probs > probs[index]).sum()) + 1


# -- feature maps ---------------------------------------------------------------------------------
def unit_bars(vec: np.ndarray, k: int, towers: tuple[int, ...] | None = None,
              labels: list[str] | None = None) -> go.Figure:
    """The k strongest units of an fc layer's (N,) vector as bars, coloured by GPU tower.

    ``towers`` is the layer's channels per tower, e.g. (2048, 2048) (from ``maps.layer_towers``);
    ``labels`` names the units (fc8: the class names).
    """
    from .maps import top_units

    units = top_units(vec, k)
    bounds = np.cumsum(towers) if towers else None

    def tower(i: int) -> str:
        return "all" if bounds is None else ("GPU 1", "GPU 2")[int(np.searchsorted(bounds, i, side="right"))]

    names = [f"{i}: {labels[i]}" if labels else f"unit {i}" for i, _ in units]
    fig = go.Figure()
    groups = {tower(i) for i, _ in units}
    for t in [g for g in ("GPU 1", "GPU 2", "all") if g in groups]:
        sel = [j for j, (i, _) in enumerate(units) if tower(i) == t]
        fig.add_bar(x=[names[j] for j in sel], y=[units[j][1] for j in sel], name=t, marker_color=TOWER_COLOURS[t],
                    hovertemplate="%{x}: %{y:.3f}<extra>" + t + "</extra>")
    fig.update_xaxes(categoryorder="array", categoryarray=names, tickangle=-40)
    fig.update_yaxes(title="activation")
    fig.update_layout(title=f"The {len(units)} strongest units", legend_title="tower", showlegend=towers is not None)
    return styled(fig, height=520)


def channel_table(act: np.ndarray, towers: tuple[int, ...] | None = None) -> list[dict]:
    """Per channel of a (C, H, W) activation: its tower, mean, max and fraction of zeros, for a CSV."""
    flat = np.asarray(act).reshape(act.shape[0], -1)  # (C, H·W)
    bounds = np.cumsum(towers) if towers else None
    return [{"channel": c,
             "tower": "all" if bounds is None else ("GPU 1", "GPU 2")[int(np.searchsorted(bounds, c, side="right"))],
             "mean": float(v.mean()), "max": float(v.max()), "zero fraction": float(np.mean(v == 0))}
            for c, v in enumerate(flat)]


def activation_histogram(counts: np.ndarray, edges: np.ndarray, title: str) -> go.Figure:
    """A histogram (counts per bin between ``edges``) of a layer's activations, log-scaled counts."""
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(go.Bar(x=centres, y=counts, width=np.diff(edges), marker_color=OKABE_ITO["blue"],
                           hovertemplate="%{x:.3g}: %{y:,} values<extra></extra>"))
    fig.update_xaxes(title="activation")
    fig.update_yaxes(title="how many values", type="log", dtick=1)
    fig.update_layout(title=title, bargap=0)
    return styled(fig, height=380)


def draw_box(image: np.ndarray, box: tuple[int, int, int, int], colour: str = OKABE_ITO["orange"],
             width: int = 2) -> np.ndarray:
    """A copy of an (H, W, 3) uint8 image with the outline of ``box`` (top, left, bottom, right;
    bottom/right exclusive) drawn in ``colour`` (hex)."""
    out = np.array(image, dtype=np.uint8, copy=True)
    rgb = [int(colour[i:i + 2], 16) for i in (1, 3, 5)]
    top, left, bottom, right = box
    h, w = out.shape[:2]
    for t in range(width):
        for r in (top + t, bottom - 1 - t):
            if 0 <= r < h:
                out[r, max(left, 0):min(right, w)] = rgb
        for c in (left + t, right - 1 - t):
            if 0 <= c < w:
                out[max(top, 0):min(bottom, h), c] = rgb
    return out


# -- kernels ----------------------------------------------------------------------------------------
def colourfulness_chart(scores: np.ndarray, towers: dict[str, dict], title: str | None = None) -> go.Figure:
    """Every kernel's colourfulness as a dot, one column per tower, with the tower's mean.

    ``towers`` is ``maps.tower_colour_comparison(...)["towers"]`` ({name: {"channels", "mean"}}).
    """
    fig = go.Figure()
    for name, t in towers.items():
        chans = list(t["channels"])
        fig.add_trace(go.Box(y=scores[chans], name=name, boxpoints="all", jitter=0.5, pointpos=0,
                             marker=dict(color=TOWER_COLOURS[name], size=9), line=dict(color=TOWER_COLOURS[name]),
                             fillcolor="rgba(0,0,0,0)", customdata=chans, boxmean=True,
                             hovertemplate="kernel %{customdata}: %{y:.2f}<extra>" + name + "</extra>"))
    fig.update_yaxes(title="colourfulness", range=[0, 1], tickvals=[0, 0.25, 0.5, 0.75, 1],
                     ticktext=["0 grey", "0.25", "0.5", "0.75", "1 colour"])
    fig.update_layout(title=title, showlegend=False)
    return styled(fig, height=420)


# -- architecture ---------------------------------------------------------------------------------
DIAGRAM_KINDS = ("conv", "lrn", "maxpool", "adaptiveavgpool", "batchnorm", "linear")
_KIND_WORD = {"conv": "conv", "lrn": "LRN", "maxpool": "max-pool", "adaptiveavgpool": "avg-pool",
              "batchnorm": "BatchNorm", "linear": "fc", "relu": "ReLU", "dropout": "dropout",
              "flatten": "flatten", "softmax": "softmax"}


def _shape(shape: tuple[int, ...] | None) -> str:
    return "—" if shape is None else "×".join(map(str, shape))


def _stacked(shape: tuple[int, ...] | None) -> str:
    """A shape on two lines (channels, then height×width), narrow enough for a diagram block."""
    if shape is None:
        return "—"
    return f"{shape[0]}<br>{shape[1]}×{shape[2]}" if len(shape) == 3 else _shape(shape)


def walk_hover(row: WalkRow) -> str:
    """One walkthrough row as hover text (HTML line breaks)."""
    lines = [f"<b>{row.name}</b> ({_KIND_WORD.get(row.kind, row.kind)})",
             f"{_shape(row.input_shape)} → {_shape(row.output_shape)}", f"size: {row.formula}"]
    if row.params:
        lines.append(f"parameters: {row.params:,}")
    if row.macs:
        lines.append(f"multiply-adds: {row.macs:,}")
    if row.memory_bytes:
        lines.append(f"activation memory: {row.memory_bytes / 1024:,.0f} KiB")
    if row.receptive_field is not None:
        rf = row.receptive_field
        lines.append(f"receptive field: {rf.size:g} px, jump {rf.jump:g} px")
    if row.towers:
        lines.append("towers: " + " + ".join(map(str, row.towers)) + (" (reads both)" if row.cross_tower else ""))
    elif row.cross_tower:
        lines.append("reads both towers")
    if row.problem:
        lines.append(f"<b>⚠ {row.problem}</b>")
    if row.note:
        lines.append(f"<i>{row.note}</i>")
    return "<br>".join(lines)


def walk_records(rows: list[WalkRow]) -> list[dict]:
    """Walkthrough rows flattened for a table / CSV."""
    out = []
    for r in rows:
        rf = r.receptive_field
        out.append({
            "layer": r.name, "kind": _KIND_WORD.get(r.kind, r.kind),
            "input": _shape(r.input_shape), "output": _shape(r.output_shape),
            "output size": r.formula, "parameters": r.params, "multiply-adds": r.macs,
            "memory (KiB)": round(r.memory_bytes / 1024, 1),
            "receptive field (px)": None if rf is None else rf.size,
            "jump (px)": None if rf is None else rf.jump,
            "towers": "" if not r.towers else " + ".join(map(str, r.towers)),
            "problem": r.problem or "",
        })
    return out


def architecture_diagram(model: str | Architecture, input_size: int | None = None) -> go.Figure:
    """The network as blocks in one lane per GPU tower, in the spirit of the paper's Figure 2.

    Layers whose output is split over two towers get a block in each lane, labelled with the
    per-tower shape; connections cross between lanes only where a layer reads both towers.
    Hovering a block shows its walkthrough row. Everything comes from the layer table.
    """
    arch = get_architecture(model) if isinstance(model, str) else model
    size = arch.input_size if input_size is None else input_size
    rows = {r.name: r for r in walkthrough(arch, size)}
    two_lanes = any(layer.towers == 2 for layer in arch.layers)
    lanes = {"GPU 1": (0.56, 0.96), "GPU 2": (0.04, 0.44)} if two_lanes else {}
    whole = (0.25, 0.75)

    # (name, label lines, split?, row) per block; the input first.
    blocks: list[tuple[str, str, bool, WalkRow | None, Layer | None]] = [
        ("input", f"<b>input</b><br>{_stacked((arch.in_channels, size, size))}", False, None, None)]
    split = False
    for layer in arch.layers:
        if layer.kind in ("conv", "linear"):
            split = layer.towers == 2
        if layer.kind not in DIAGRAM_KINDS:
            continue
        row = rows[layer.name]
        shape = row.output_shape
        if split and shape is not None:
            shape = (shape[0] // 2, *shape[1:])
        blocks.append((layer.name, f"<b>{layer.name}</b><br>{_stacked(shape)}", split, row, layer))

    fig = go.Figure()
    width = 0.78
    centres: list[dict[str, float]] = []  # per block: lane -> y centre
    hx, hy, htext = [], [], []
    for i, (name, label, is_split, row, layer) in enumerate(blocks):
        ok = row is None or row.output_shape is not None
        strong = layer is None or layer.kind in ("conv", "linear")
        spans = {t: lanes[t] for t in lanes} if is_split else {"all": whole}
        centres.append({t: (y0 + y1) / 2 for t, (y0, y1) in spans.items()})
        for tower, (y0, y1) in spans.items():
            colour = TOWER_COLOURS[tower] if ok else "#999999"
            fig.add_shape(type="rect", x0=i - width / 2, x1=i + width / 2, y0=y0, y1=y1,
                          fillcolor=colour, opacity=0.35 if strong else 0.15,
                          line=dict(color=colour if (row is None or row.exact) else OKABE_ITO["black"],
                                    width=2 if (row is None or row.exact) else 4,
                                    dash="solid" if (row is None or row.exact) else "dot"), layer="below")
            fig.add_annotation(x=i, y=(y0 + y1) / 2, text=label, showarrow=False, font=dict(size=15))
            hx.append(i)
            hy.append((y0 + y1) / 2)
            htext.append(walk_hover(row) if row is not None else
                         f"<b>input</b><br>{arch.in_channels}×{size}×{size} image<br>both GPUs see all of it")

    # Connections: same lane where the layer reads only its own tower, across where it reads both.
    for i in range(1, len(blocks)):
        prev, cur = centres[i - 1], centres[i]
        layer = blocks[i][4]
        cross = layer is not None and layer.cross_tower
        for a, ya in prev.items():
            for b, yb in cur.items():
                same = a == b or "all" in (a, b)
                if not same and not cross:
                    continue
                colour = TOWER_COLOURS[b if b != "all" else a] if same else OKABE_ITO["black"]
                fig.add_shape(type="line", x0=i - 1 + width / 2, x1=i - width / 2, y0=ya, y1=yb,
                              line=dict(color=colour, width=3 if same else 2, dash="solid" if same else "dash"),
                              layer="below")

    fig.add_trace(go.Scatter(x=hx, y=hy, mode="markers", marker=dict(size=40, opacity=0),
                             hovertext=htext, hoverinfo="text", showlegend=False))
    if two_lanes:
        for tower, (y0, y1) in lanes.items():
            fig.add_annotation(x=-0.55, y=(y0 + y1) / 2, text=f"<b>{tower}</b>", showarrow=False,
                               textangle=-90, font=dict(size=18, color=TOWER_COLOURS[tower]))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="reads both towers",
                                 line=dict(color=OKABE_ITO["black"], dash="dash", width=2)))
    fig.update_xaxes(visible=False, range=[-0.8, len(blocks) - 0.4])
    fig.update_yaxes(visible=False, range=[0, 1])
    fig.update_layout(meta={"blocks": [b[0] for b in blocks]})  # block names in x order, for readers and tests
    fig.update_layout(title=f"{arch.name}: input {size}×{size}, one lane per GPU" if two_lanes
                      else f"{arch.name}: input {size}×{size}, one tower", showlegend=two_lanes,
                      legend=dict(orientation="h", y=-0.02), hovermode="closest")
    return styled(fig, height=420 if two_lanes else 300)


# -- comparing variants ----------------------------------------------------------------------------
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
    d["order"] = " → ".join(_KIND_WORD.get(x.kind, x.kind) + (f" {x.p:g}" if x.kind == "dropout" else "")
                            for x in stage if x.kind != "flatten")
    last = next((rows[x.name] for x in reversed(stage)
                 if x.name in rows and x.kind not in ("flatten", "dropout")), None)
    d["output (at its own input size)"] = _shape(last.output_shape) if last else "—"
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


# -- attribution sanity check ---------------------------------------------------------------------
_METHOD_COLOURS = ("blue", "vermillion", "bluish green", "reddish purple", "orange", "sky blue", "black", "yellow")
_METHOD_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def sanity_chart(steps: list[str], correlation: dict[str, np.ndarray], labels: dict[str, str] | None = None,
                 threshold: float | None = 0.5) -> go.Figure:
    """Rank correlation with the original map after each cascading-randomisation step, one line
    per method (Adebayo et al. 2018). A line that stays high belongs to a method whose map does
    not depend on the weights. Colours (Okabe–Ito) and dashes both tell the lines apart.

    steps: ["original", "fc8", …, "conv1"]; correlation: method -> (steps,) values, NaN allowed.
    """
    labels = labels or {}
    fig = go.Figure()
    for i, (method, values) in enumerate(correlation.items()):
        fig.add_trace(go.Scatter(
            x=list(steps), y=[None if not np.isfinite(v) else float(v) for v in values],
            mode="lines+markers", name=labels.get(method, method),
            line=dict(color=OKABE_ITO[_METHOD_COLOURS[i % len(_METHOD_COLOURS)]], width=3,
                      dash=_METHOD_DASHES[i % len(_METHOD_DASHES)]),
            marker=dict(size=10),
            hovertemplate="%{x}: %{y:.2f}<extra>" + labels.get(method, method) + "</extra>"))
    if threshold is not None:
        fig.add_hline(y=threshold, line=dict(color="grey", dash="dot"),
                      annotation_text=f"{threshold:g}: above this once all is random, the map ignores the weights",
                      annotation_position="top left", annotation_font_size=FONT_SIZE - 4)
    fig.update_xaxes(title="layers randomised, from the output back (cumulative)")
    fig.update_yaxes(title="rank correlation with original", range=[-0.25, 1.05])
    fig.update_layout(title="Sanity check: does the map change when the weights do?",
                      legend=dict(orientation="h", yanchor="bottom", y=-0.45, x=0))
    return styled(fig, height=480)
