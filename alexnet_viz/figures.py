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
                      hoverlabel=dict(font_size=FONT_SIZE - 2))
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
    fig.update_xaxes(title="probability", tickformat=".0%", range=[0, max(vals) * 1.15 or 1])
    fig.update_layout(title=f"Top {k} classes")
    return styled(fig, height=80 + 60 * k)


def class_rank(probs: np.ndarray, index: int) -> int:
    """1-based rank of class ``index`` among all classes (1 = most probable)."""
    return int((probs > probs[index]).sum()) + 1


# -- units of a vector layer (fc) -----------------------------------------------------------------
def unit_bars(vec: np.ndarray, k: int, layer: Layer | None = None, labels: list[str] | None = None) -> go.Figure:
    """The k strongest units of a 1-d activation as bars, coloured by GPU tower where there are two."""
    vec = np.asarray(vec)
    idx = np.argsort(vec)[::-1][:k]
    towers = [(layer.tower_of(int(i)) if layer is not None else None) or "all" for i in idx]
    names = [f"unit {i}" + (f" ({labels[i]})" if labels else "") for i in idx]
    fig = go.Figure()
    for tower in dict.fromkeys(towers):
        sel = [j for j, t in enumerate(towers) if t == tower]
        fig.add_bar(x=[names[j] for j in sel], y=[float(vec[idx[j]]) for j in sel], name=tower,
                    marker_color=TOWER_COLOURS[tower], hovertemplate="%{x}: %{y:.3f}<extra>" + tower + "</extra>")
    fig.update_xaxes(categoryorder="array", categoryarray=names, tickangle=-45)
    fig.update_yaxes(title="activation")
    fig.update_layout(title=f"The {k} strongest units", legend_title="tower", barmode="overlay")
    return styled(fig, height=480)
