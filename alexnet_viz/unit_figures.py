"""One traced unit as numbers and pictures, for the app's "How was this number made?" page.

The sentences, tables, pictures and plotly figures of that page. Pure numpy, Pillow and plotly;
no Streamlit here.

Everything takes a :class:`~alexnet_viz.units.Unit` (from ``trace_unit``) and, where towers or
constants matter, the network's :class:`~alexnet_viz.architecture.Architecture`. Colours follow
``figures``: Okabe–Ito for categories, the sign pair (purple, green) for signs, viridis for
values, the purple–green diverging scale centred on zero for weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from .architecture import Architecture, LRNSpec
from .render.charts import styled
from .render.colour import OKABE_ITO, SIGNED_MAP, colourise, sign_colour
from .render.images import enlarge
from .units import Unit, Window

COLOURS = ("red", "green", "blue")  # the input's channels


def unit_name(layer: str, channel: int, row: int | None, col: int | None) -> str:
    """``conv2[130, 10, 12]`` or ``fc7[42]``: how the page names a unit."""
    return f"{layer}[{channel}]" if row is None else f"{layer}[{channel}, {row}, {col}]"


def _tower(arch: Architecture, layer: str, channel: int) -> str | None:
    """The GPU tower holding the channel, or None where the layer is not split (one tower)."""
    if layer == "input" or len(arch.towers(layer)) == 1:
        return None
    return arch.tower_of(layer, channel)


# -- sentences ------------------------------------------------------------------------------------
def reads_sentence(u: Unit, arch: Architecture) -> str:
    """Which source channels the unit reads, in words: for a grouped conv of the two-tower network,
    "reads only GPU 2's 48 channels of pool1 (paper §3.2)"; no GPU words for one tower."""
    n = len(u.in_channels)
    if u.source == "input":
        return f"reads all {n} colour channels (red, green, blue) of the input pixels"
    if u.kind == "linear":
        return f"reads all {n} values of {u.source}"
    if u.kind != "conv":
        return f"reads channel {u.channel} of {u.source}"
    first = _tower(arch, u.source, u.in_channels.start)
    last = _tower(arch, u.source, u.in_channels.stop - 1)
    if first is None:
        return f"reads all {n} channels of {u.source}"
    if first == last:
        return (f"reads only {first}'s {n} channels of {u.source} (paper §3.2), channels "
                f"{u.in_channels.start}–{u.in_channels.stop - 1}")
    return (f"reads all {n} channels of {u.source}, from both GPUs (paper §3.2: one of the layers where "
            f"the two GPUs exchange their results)")


def window_words(window: Window) -> str:
    y0, y1, x0, x1 = window
    return f"rows {y0}–{y1 - 1}, columns {x0}–{x1 - 1}"


# -- conv -----------------------------------------------------------------------------------------
def top_channels(u: Unit, k: int = 8) -> np.ndarray:
    """Positions (into ``u.in_channels``) of the k largest |terms|, largest first."""
    return np.argsort(-np.abs(u.terms), kind="stable")[:k]


Box = tuple[int, int, int, int]  # (top, left, bottom, right) in pixels; bottom/right exclusive


@dataclass(frozen=True, eq=False)
class PatchesPicture:
    """The input patches of a conv unit's strongest channels, each above its kernel, as one picture.

    ``channels`` are the source channels shown, largest |term| first (``top_channels``), with
    ``titles[j]`` written above ``patch_boxes[j]``; ``kernel_boxes[j]`` is the same channel's
    kernel, right below. Each cell of a patch or kernel is ``factor`` × ``factor`` pixels.
    """

    image: np.ndarray  # (H, W, 3) uint8
    channels: tuple[int, ...]
    titles: tuple[str, ...]
    patch_boxes: tuple[Box, ...]
    kernel_boxes: tuple[Box, ...]
    factor: int


def conv_patches_picture(u: Unit, k: int = 8, per_row: int = 4, panel: int = 84) -> PatchesPicture:
    """The computation of a conv unit, drawn on the server as one picture: the input patches
    of the k channels that contribute most (by |term|), each above its kernel, ``per_row`` channels
    to a row, largest first, every patch titled with its channel and its term Σ patch·kernel.

    Patches use viridis on their own range (bright = large input); kernels purple-white-green
    centred on 0 (green: positive weight, it adds; purple: negative, it subtracts). Cells are square and about
    ``panel`` pixels to a patch. A picture is drawn by the browser at once, where a grid of 16
    plotly heat maps took it most of a second on a busy machine; hover values are in the terms
    chart below it.
    """
    from PIL import Image, ImageDraw, ImageFont

    idx = top_channels(u, k)
    cols = min(per_row, len(idx))
    kh, kw = u.weight.shape[1:]
    f = max(1, round(panel / max(kh, kw)))
    ph, pw = kh * f, kw * f  # one patch or kernel, in pixels
    title, label, gap, between, block_gap, edge = 26, 64, 14, 6, 14, 4
    block = title + ph + between + ph
    blocks = -(-len(idx) // cols)
    width = label + cols * pw + (cols - 1) * gap + edge
    height = blocks * block + (blocks - 1) * block_gap + edge
    canvas = np.full((height, width, 3), 255, np.uint8)
    patch_boxes, kernel_boxes, titles, channels = [], [], [], []
    for j, i in enumerate(idx):
        top = (j // cols) * (block + block_gap) + title
        left = label + (j % cols) * (pw + gap)
        lim = float(np.abs(u.weight[i]).max()) or 1.0
        canvas[top:top + ph, left:left + pw] = enlarge(colourise(u.patch[i], "viridis", *_range(u.patch[i])), f)
        ktop = top + ph + between
        canvas[ktop:ktop + ph, left:left + pw] = enlarge(colourise(u.weight[i], SIGNED_MAP, -lim, lim), f)
        patch_boxes.append((top, left, top + ph, left + pw))
        kernel_boxes.append((ktop, left, ktop + ph, left + pw))
        channels.append(int(u.in_channels[i]))
        name = COLOURS[u.in_channels[i]] if u.source == "input" else str(u.in_channels[i])
        titles.append(f"{name}: {u.terms[i]:+.2g}")  # short: fits a narrow page
    img = Image.fromarray(canvas)
    draw = ImageDraw.Draw(img)
    font, small = ImageFont.load_default(size=17), ImageFont.load_default(size=15)
    for text, (top, left, _, right) in zip(titles, patch_boxes):
        draw.text(((left + right) / 2, top - 4), text, fill=(0, 0, 0), font=font, anchor="md")
    for b in range(blocks):  # which row is which, on the left
        top = b * (block + block_gap) + title
        for word, y in (("input", top + ph / 2), ("kernel", top + ph + between + ph / 2)):
            draw.text((label - 8, y), word, fill=(60, 60, 60), font=small, anchor="rm")
    return PatchesPicture(np.asarray(img), tuple(channels), tuple(titles), tuple(patch_boxes), tuple(kernel_boxes), f)


def _range(values: np.ndarray) -> tuple[float, float]:
    """A patch's own min..max (viridis on its own range, as the plotly heat map scales it)."""
    return float(values.min()), float(values.max())


def terms_figure(u: Unit, arch: Architecture, height: int = 300) -> go.Figure:
    """Every source channel's term Σ patch·kernel as a bar (green adds, purple subtracts)."""
    chans = list(u.in_channels)
    colours = [sign_colour(t) for t in u.terms]
    fig = go.Figure(go.Bar(x=chans, y=u.terms, marker_color=colours,
                           hovertemplate="channel %{x}: %{y:.4g}<extra></extra>"))
    what = "colour channel" if u.source == "input" else f"channel of {u.source}"
    if u.source == "input":  # the image's channels by name, not as positions −0.5 … 2
        fig.update_xaxes(tickvals=chans, ticktext=[COLOURS[c] for c in chans])
    fig.update_layout(xaxis_title=f"input {what}", yaxis_title="term (Σ patch × kernel)",
                      title=f"All {len(chans)} per-channel terms; they add up to {u.terms.sum():.4g}")
    return styled(fig, height)


# -- linear ---------------------------------------------------------------------------------------
def linear_contributions(u: Unit, arch: Architecture, k: int = 10) -> list[dict]:
    """The k input features with the largest |weight × input|, largest first, as table rows.

    Where the source is a map (pool5 or avgpool, flattened in (C, H, W) order), each feature is
    also named by its channel (index // (H·W)), row and column; the tower is the source channel's.
    """
    order = np.argsort(-np.abs(u.terms), kind="stable")[:k]
    rows = []
    for f in order:
        f = int(f)
        row = {"feature": f}
        if len(u.source_shape) == 3:
            c, r, q = (int(v) for v in np.unravel_index(f, u.source_shape))
            row.update({"channel": c, "row": r, "col": q})
        else:
            c = f
        tower = _tower(arch, u.source, c)
        if tower is not None:
            row["tower"] = tower
        row.update({"input": float(u.patch[f]), "weight": float(u.weight[f]), "term": float(u.terms[f])})
        rows.append(row)
    return rows


def contributions_figure(rows: list[dict], source: str, height: int = 380) -> go.Figure:
    """The rows of ``linear_contributions`` as horizontal bars, the largest on top."""
    def label(r):
        where = f"{source} ch {r['channel']} ({r['row']}, {r['col']})" if "channel" in r else f"{source}[{r['feature']}]"
        return f"#{r['feature']}: {where}" + (f", {r['tower']}" if "tower" in r else "")

    rows = rows[::-1]
    fig = go.Figure(go.Bar(x=[r["term"] for r in rows], y=[label(r) for r in rows], orientation="h",
                           marker_color=[sign_colour(r["term"]) for r in rows],
                           hovertemplate="%{y}<br>weight × input = %{x:.4g}<extra></extra>"))
    fig.update_layout(xaxis_title="weight × input", title=f"The {len(rows)} largest contributions")
    return styled(fig, height)


# -- relu -----------------------------------------------------------------------------------------
def relu_figure(x: float, height: int = 320) -> go.Figure:
    """The ReLU curve max(0, x) with this unit's input and output marked."""
    span = max(abs(x) * 1.5, 1e-3)
    xs = np.array([-span, 0.0, span])
    fig = go.Figure(go.Scatter(x=xs, y=np.maximum(xs, 0), mode="lines", line=dict(color=OKABE_ITO["black"]),
                               name="max(0, x)", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[x], y=[max(x, 0.0)], mode="markers", name="this unit",
                             marker=dict(size=16, color=OKABE_ITO["orange"]),
                             hovertemplate="input %{x:.4g} → output %{y:.4g}<extra></extra>"))
    fig.update_layout(xaxis_title="input (before the ReLU)", yaxis_title="output", showlegend=False)
    return styled(fig, height)


# -- LRN ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LRNBreakdown:
    """Local response normalisation of one unit, number by number."""

    channels: tuple[int, ...]  # the neighbouring channels that exist (≤ size)
    values: tuple[float, ...]  # their values at this position (the centre among them)
    centre: float  # the unit's own value before normalisation
    sum_sq: float  # Σ a² over the neighbours
    spec: LRNSpec
    denominator: float  # (k + α/n · Σ a²)^β
    value: float  # centre / denominator

    @property
    def shrink(self) -> float | None:
        """value / centre: how much of the value the normalisation kept (None when centre is 0)."""
        return None if self.centre == 0 else self.value / self.centre


def lrn_breakdown(u: Unit, spec: LRNSpec) -> LRNBreakdown:
    """The numbers of ``value = centre / (k + α/n · Σ a²)^β`` for an LRN unit (Caffe's semantics:
    zeros past the first and last channel add nothing, n is always ``spec.size``)."""
    vals = u.patch.reshape(-1).astype(np.float64)  # (≤5,)
    centre = float(vals[u.channel - u.in_channels.start])
    sum_sq = float((vals ** 2).sum())
    denom = (spec.k + spec.alpha / spec.size * sum_sq) ** spec.beta
    return LRNBreakdown(tuple(u.in_channels), tuple(float(v) for v in vals), centre, sum_sq, spec, denom,
                        centre / denom)


def lrn_figure(b: LRNBreakdown, height: int = 320) -> go.Figure:
    """The neighbouring channels' values as bars, the unit's own channel highlighted."""
    centre = b.channels[b.values.index(b.centre)] if b.centre in b.values else None
    colours = [OKABE_ITO["orange"] if c == centre else OKABE_ITO["sky blue"] for c in b.channels]
    fig = go.Figure(go.Bar(x=[f"ch {c}" for c in b.channels], y=b.values, marker_color=colours,
                           text=[f"{v:.4g}" for v in b.values], textposition="outside",
                           hovertemplate="%{x}: %{y:.4g}<extra></extra>"))
    fig.update_layout(yaxis_title="value before LRN", title="The neighbouring channels at this position")
    return styled(fig, height)


# -- pooling --------------------------------------------------------------------------------------
def pool_winner(u: Unit) -> tuple[int, int]:
    """(row, col) in the source map of the largest value in a max-pool unit's window."""
    dy, dx = np.unravel_index(int(np.argmax(u.patch[0])), u.patch[0].shape)
    return u.window[0] + int(dy), u.window[2] + int(dx)


def pool_figure(source_map: np.ndarray, u: Unit, stride: int | None = None, height: int = 420) -> go.Figure:
    """The source channel (H, W) as a heat map with the unit's window drawn (orange), the windows
    of its four neighbours dashed (they overlap it where stride < kernel: §3.4) and, for max
    pooling, the winning position marked."""
    fig = go.Figure(go.Heatmap(z=source_map, colorscale="Viridis", colorbar=dict(title="value"),
                               hovertemplate="row %{y}, col %{x}: %{z:.4g}<extra></extra>"))

    def rect(w, **line):
        y0, y1, x0, x1 = w
        fig.add_shape(type="rect", x0=x0 - 0.5, x1=x1 - 0.5, y0=y0 - 0.5, y1=y1 - 0.5, line=line)

    if stride:
        y0, y1, x0, x1 = u.window
        for dy, dx in ((-stride, 0), (stride, 0), (0, -stride), (0, stride)):
            rect((y0 + dy, y1 + dy, x0 + dx, x1 + dx), color="white", width=1.5, dash="dash")
    rect(u.window, color=OKABE_ITO["orange"], width=4)
    if u.kind == "pool":
        r, c = pool_winner(u)
        fig.add_trace(go.Scatter(x=[c], y=[r], mode="markers", showlegend=False,
                                 marker=dict(symbol="x", size=16, color=OKABE_ITO["vermillion"],
                                             line=dict(width=2, color="white")),
                                 hovertemplate="the winner: row %{y}, col %{x}<extra></extra>"))
    h, w = source_map.shape
    fig.update_xaxes(range=[-0.5 - 1, w - 0.5 + 1], title="column", constrain="domain")
    fig.update_yaxes(range=[h - 0.5 + 1, -0.5 - 1], title="row", scaleanchor="x")
    return styled(fig, height)


def overlap_words(u: Unit, kernel: int, stride: int) -> str:
    """What the overlapping windows of a max-pool (§3.4) mean for this unit, in a sentence."""
    shared = kernel - stride
    if shared <= 0:
        return f"Windows of {kernel}×{kernel} at stride {stride} do not overlap."
    return (f"Windows are {kernel}×{kernel} but step only {stride}, so each shares {shared} row and "
            f"{shared} column of inputs with its neighbours (dashed): overlapping pooling, which the "
            f"paper found cut top-1 error by 0.4% (§3.4).")


# -- the input ------------------------------------------------------------------------------------
def clip_box(box: Window, h: int, w: int) -> Window:
    """A (y0, y1, x0, x1) box clipped to an h×w image."""
    y0, y1, x0, x1 = box
    return max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)


def central_box(box: Window, fraction: float = 0.5) -> Window:
    """The box around the same centre whose sides are ``fraction`` of ``box``'s (rounded out)."""
    y0, y1, x0, x1 = box
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    hy, hx = (y1 - y0) * fraction / 2, (x1 - x0) * fraction / 2
    return int(np.floor(cy - hy)), int(np.ceil(cy + hy)), int(np.floor(cx - hx)), int(np.ceil(cx + hx))


@dataclass(frozen=True)
class ERFShare:
    """How the effective receptive field's mass (Σ |∂unit/∂pixel|) spreads over the box."""

    total: float  # over the whole image
    in_box: float  # fraction inside the (clipped) receptive field
    in_centre: float  # fraction inside the central box (half the side, a quarter of the area)
    uniform: float  # the fraction a flat field over the clipped box would put in the central box
    centre: Window  # the central box, clipped


def erf_share(erf: np.ndarray, box: Window, fraction: float = 0.5) -> ERFShare:
    """Where ``erf`` (H, W) puts its mass relative to the receptive field ``box`` (unclipped)."""
    h, w = erf.shape
    b = clip_box(box, h, w)
    c = clip_box(central_box(box, fraction), h, w)
    total = float(np.asarray(erf, np.float64).sum())

    def mass(bx):
        return float(np.asarray(erf[bx[0]:bx[1], bx[2]:bx[3]], np.float64).sum())

    def area(bx):
        return max(bx[1] - bx[0], 0) * max(bx[3] - bx[2], 0)

    in_box = mass(b) / total if total > 0 else 0.0
    in_centre = mass(c) / total if total > 0 else 0.0
    return ERFShare(total, in_box, in_centre, area(c) / max(area(b), 1), c)
