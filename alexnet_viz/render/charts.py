"""Plotly figures for the pages: every function returns a ``plotly.graph_objects.Figure``.

Colours are colour-blind safe (``render.colour``): Okabe–Ito for categories (the GPU towers
among them), viridis for sequential scales. Fonts are large enough for a projector.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from ..activations import top_units
from ..architecture import WHOLE, Architecture, Layer, get_architecture
from ..walkthrough import WalkRow, walkthrough
from .colour import OKABE_ITO, TOWER_COLOURS
from .tables import KIND_WORD, shape_text

FONT_SIZE = 18


def styled(fig: go.Figure, height: int | None = None) -> go.Figure:
    """The project's look: white background, large text, tight margins."""
    _white(fig)
    fig.update_layout(font=dict(size=FONT_SIZE), margin=dict(l=10, r=10, t=50, b=10),
                      hoverlabel=dict(font_size=FONT_SIZE - 2, bgcolor="white", font_color="black"))
    if height is not None:
        fig.update_layout(height=height)
    return fig


def _white(fig: go.Figure) -> None:
    """Plotly's registered "plotly_white" template on ``fig``, without validating it again.

    Naming it (``template="plotly_white"``) re-validates the whole template, deep copies included:
    about 9 ms per chart, the largest part of drawing one. Plotly puts its default template on
    every new figure the same way (``BaseFigure._initialize_layout_template``: validation off for
    an already validated template); the JSON sent to the browser is the same. Were plotly to drop
    the private flag, the assignment is simply validated as before.
    """
    layout = fig.layout
    before = getattr(layout, "_validate", True)
    layout._validate = False
    try:
        layout.template = pio.templates["plotly_white"]
    finally:
        layout._validate = before


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


def unit_bars(vec: np.ndarray, k: int, arch: Architecture, layer: str,
              labels: list[str] | None = None) -> go.Figure:
    """The k strongest units of an fc layer's (N,) vector as bars, coloured by GPU tower
    (``arch.towers(layer)``); ``labels`` names the units (fc8: the class names)."""
    units = top_units(vec, k)
    towers = arch.towers(layer)
    names = [f"{i}: {labels[i]}" if labels else f"unit {i}" for i, _ in units]
    fig = go.Figure()
    for t in towers:
        sel = [j for j, (i, _) in enumerate(units) if i in t.channels]
        if not sel:
            continue
        fig.add_bar(x=[names[j] for j in sel], y=[units[j][1] for j in sel], name=t.name,
                    customdata=[units[j][0] for j in sel],  # the unit's index, for clicks
                    marker_color=TOWER_COLOURS[t.name], hovertemplate="%{x}: %{y:.3f}<extra>" + t.name + "</extra>")
    fig.update_xaxes(categoryorder="array", categoryarray=names, tickangle=-40)
    fig.update_yaxes(title="activation")
    fig.update_layout(title=f"The {len(units)} strongest units", legend_title="tower", showlegend=len(towers) > 1)
    return styled(fig, height=520)


def activation_histogram(counts: np.ndarray, edges: np.ndarray, title: str) -> go.Figure:
    """A histogram (counts per bin between ``edges``) of a layer's activations, log-scaled counts."""
    centres = (edges[:-1] + edges[1:]) / 2
    fig = go.Figure(go.Bar(x=centres, y=counts, width=np.diff(edges), marker_color=OKABE_ITO["blue"],
                           hovertemplate="%{x:.3g}: %{y:,} values<extra></extra>"))
    fig.update_xaxes(title="activation")
    fig.update_yaxes(title="how many values", type="log", dtick=1)
    fig.update_layout(title=title, bargap=0)
    return styled(fig, height=380)


def colourfulness_chart(scores: np.ndarray, towers: dict, title: str | None = None) -> go.Figure:
    """Every kernel's colourfulness as a dot, one column per tower, with the tower's mean.

    ``towers`` is ``kernels.tower_colour_comparison(...).towers`` ({name: TowerStats}).
    """
    fig = go.Figure()
    for name, t in towers.items():
        chans = list(t.channels)
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
LANES = ((0.56, 0.96), (0.04, 0.44))  # (bottom, top) of the first and second tower's lane


def _stacked(shape: tuple[int, ...] | None) -> str:
    """A shape on two lines (channels, then height×width), narrow enough for a diagram block."""
    if shape is None:
        return "—"
    return f"{shape[0]}<br>{shape[1]}×{shape[2]}" if len(shape) == 3 else shape_text(shape)


def walk_hover(row: WalkRow) -> str:
    """One walkthrough row as hover text (HTML line breaks)."""
    lines = [f"<b>{row.name}</b> ({KIND_WORD.get(row.kind, row.kind)})",
             f"{shape_text(row.input_shape)} → {shape_text(row.output_shape)}", f"size: {row.formula}"]
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


def architecture_diagram(model: str | Architecture, input_size: int | None = None) -> go.Figure:
    """The network as blocks in one lane per GPU tower, in the spirit of the paper's Figure 2.

    Layers whose output is split over two towers get a block in each lane, labelled with the
    per-tower shape; connections cross between lanes only where a layer reads both towers.
    Hovering a block shows its walkthrough row. Everything comes from the layer table.
    """
    arch = get_architecture(model) if isinstance(model, str) else model
    size = arch.input_size if input_size is None else input_size
    rows = {r.name: r for r in walkthrough(arch, size)}
    lanes = dict(zip(arch.tower_names, LANES))  # none for a one-tower variant
    two_lanes = bool(lanes)
    whole = (0.25, 0.75)

    # (name, label lines, split?, row) per block; the input first.
    blocks: list[tuple[str, str, bool, WalkRow | None, Layer | None]] = [
        ("input", f"<b>input</b><br>{arch.in_channels}<br>{size}×<br>{size}", False, None, None)]  # narrow: stays in its block
    for layer in arch.layers:
        if layer.kind not in DIAGRAM_KINDS:
            continue
        row = rows[layer.name]
        shape = row.output_shape
        towers = arch.towers(layer.name)
        split = len(towers) > 1
        if split and shape is not None:
            shape = (len(towers[0].channels), *shape[1:])
        blocks.append((layer.name, f"<b>{layer.name}</b><br>{_stacked(shape)}", split, row, layer))

    fig = go.Figure()
    # Shapes and annotations gathered as dicts and set once: plotly's add_shape/add_annotation
    # re-validate every earlier one on each call (quadratic; 0.42 s of a 0.43 s diagram).
    shapes: list[dict] = []
    notes: list[dict] = []
    width = 0.78
    font = max(10, min(15, round(15 * 20 / len(blocks))))  # more blocks (keras' BatchNorm): smaller labels
    upright = len(blocks) > 20  # too many blocks for stacked labels side by side: one line, turned
    centres: list[dict[str, float]] = []  # per block: lane -> y centre
    hx, hy, htext = [], [], []
    for i, (name, label, is_split, row, layer) in enumerate(blocks):
        ok = row is None or row.output_shape is not None
        strong = layer is None or layer.kind in ("conv", "linear")
        spans = dict(lanes) if is_split else {WHOLE: whole}
        centres.append({t: (y0 + y1) / 2 for t, (y0, y1) in spans.items()})
        for tower, (y0, y1) in spans.items():
            colour = TOWER_COLOURS[tower] if ok else "#999999"
            shapes.append(dict(type="rect", x0=i - width / 2, x1=i + width / 2, y0=y0, y1=y1,
                               fillcolor=colour, opacity=0.35 if strong else 0.15,
                               line=dict(color=colour if (row is None or row.exact) else OKABE_ITO["black"],
                                         width=2 if (row is None or row.exact) else 4,
                                         dash="solid" if (row is None or row.exact) else "dot"), layer="below"))
            text = label.replace("<br>", " ") if upright else label
            notes.append(dict(x=i, y=(y0 + y1) / 2, text=text, showarrow=False, font=dict(size=font),
                              textangle=-90 if upright else 0))
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
                # into a layer that reads both towers, every line from a tower is a crossing (fc8's too)
                same = a == b or (WHOLE in (a, b) and not (cross and a != WHOLE))
                if not same and not cross:
                    continue
                colour = TOWER_COLOURS[b if b != WHOLE else a] if same else OKABE_ITO["black"]
                shapes.append(dict(type="line", x0=i - 1 + width / 2, x1=i - width / 2, y0=ya, y1=yb,
                                   line=dict(color=colour, width=3 if same else 2, dash="solid" if same else "dash"),
                                   layer="below"))

    fig.add_trace(go.Scatter(x=hx, y=hy, mode="markers", marker=dict(size=40, opacity=0),
                             customdata=[b[0] for b in blocks for _ in (lanes if b[2] else (WHOLE,))],
                             hovertext=htext, hoverinfo="text", showlegend=False))  # customdata: the block, for clicks
    if two_lanes:
        for tower, (y0, y1) in lanes.items():
            notes.append(dict(x=-0.55, y=(y0 + y1) / 2, text=f"<b>{tower}</b>", showarrow=False,
                              textangle=-90, font=dict(size=18, color=TOWER_COLOURS[tower])))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="reads both towers",
                                 line=dict(color=OKABE_ITO["black"], dash="dash", width=2)))
    fig.update_layout(shapes=shapes, annotations=notes)
    fig.update_xaxes(visible=False, range=[-0.8, len(blocks) - 0.4])
    fig.update_yaxes(visible=False, range=[0, 1])
    fig.update_layout(meta={"blocks": [b[0] for b in blocks]})  # block names in x order, for readers and tests
    fig.update_layout(title=dict(text=f"{arch.name}: input {size}×{size}, one lane per GPU" if two_lanes
                                 else f"{arch.name}: input {size}×{size}, one tower", x=0.01, xanchor="left"),
                      showlegend=two_lanes,
                      legend=dict(orientation="h", y=-0.02), hovermode="closest")
    return styled(fig, height=420 if two_lanes else (380 if upright else 300))


def diagram_layer(model: str | Architecture, block: str) -> str | None:
    """The activation a click on a diagram block opens on the Feature maps page: a conv or fc
    block's ReLU where one follows it (what the page shows first), else the block's own layer;
    None for the input, which has no activation."""
    arch = get_architecture(model) if isinstance(model, str) else model
    names = arch.names()
    if block not in names:
        return None
    i = names.index(block)
    if arch.layers[i].kind in ("conv", "linear") and i + 1 < len(names) and arch.layers[i + 1].kind == "relu":
        return names[i + 1]
    return block


# -- attribution sanity check ---------------------------------------------------------------------
_METHOD_COLOURS = ("blue", "vermillion", "bluish green", "reddish purple", "orange", "sky blue", "black", "yellow")
_METHOD_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def sanity_range(correlation: dict[str, np.ndarray], threshold: float | None = 0.5) -> tuple[float, float]:
    """A y range holding every finite correlation and the threshold, with a little room."""
    values = [float(v) for vs in correlation.values() for v in np.asarray(vs).ravel() if np.isfinite(v)]
    values += [1.0] + ([threshold] if threshold is not None else [])
    lo, hi = min(values + [0.0]), max(values)
    pad = 0.05 * (hi - lo or 1.0)
    return lo - pad, hi + pad


# The threshold's label, right of the plot: its longest line, " ignores the weights" (20 characters
# at FONT_SIZE - 5 = 13 px, about 0.6 em each, ~160 px), and a little room.
SANITY_LABEL_MARGIN = 180


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
    if threshold is not None:  # the label sits right of the plot, where no curve runs
        fig.add_hline(y=threshold, line=dict(color="grey", dash="dot"))
        fig.add_annotation(x=1.0, xref="paper", xanchor="left", y=threshold, yref="y", showarrow=False,
                           text=f" {threshold:g}: above this<br> at the end, the map<br> ignores the weights",
                           align="left", font=dict(size=FONT_SIZE - 5, color="grey"))
    fig.update_xaxes(title="layers randomised, from the output back (cumulative)")
    fig.update_yaxes(title="rank correlation with original", range=list(sanity_range(correlation, threshold)))
    fig.update_layout(title="Sanity check: does the map change when the weights do?",
                      legend=dict(orientation="h", yanchor="bottom", y=-0.45, x=0))
    styled(fig, height=480)
    # After styled(), whose tight margins would otherwise cut the threshold's label at its right edge.
    fig.update_layout(margin=dict(r=SANITY_LABEL_MARGIN if threshold is not None else 10))
    return fig


def mc_dropout_figure(probs: np.ndarray, categories: list[str], classes: list[int]) -> go.Figure:
    """Monte-Carlo dropout (§4.2): each class's probability over the (n, classes) passes as a
    box with every pass as a point, the first of ``classes`` on top."""
    fig = go.Figure()
    for i in classes[::-1]:
        fig.add_trace(go.Box(x=probs[:, i], name=categories[i], orientation="h", boxpoints="all", jitter=0.4,
                             pointpos=0, marker=dict(color=OKABE_ITO["blue"], size=5),
                             line=dict(color=OKABE_ITO["orange"]), showlegend=False,
                             hovertemplate=f"{categories[i]}: %{{x:.2%}}<extra></extra>"))
    fig.update_xaxes(title=f"probability in each of {probs.shape[0]} passes with dropout on", tickformat=".1%")
    return styled(fig, height=80 + 70 * len(classes))
