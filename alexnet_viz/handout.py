"""The eight-step lesson for one photo as one self-contained HTML file: a handout to keep or print.

Every picture is embedded as a PNG ``data:`` address and the styles are inline, so the file opens
with no network at all and prints to PDF from any browser, one step to a page. The words and
shapes are the lesson's own (:func:`alexnet_viz.lesson.lesson`); the pictures are the lesson
page's: the strongest channels per GPU tower, conv1's kernels, the strongest fc units, the top-5.
"""
from __future__ import annotations

import base64
import html
import re
from datetime import date

import numpy as np
import torch
from PIL import Image

from . import lesson as lessons
from .activations import top_units
from .render.colour import TOWER_COLOURS
from .render.encode import png_bytes
from .render.tables import shape_text
from .render.tiles import kernel_grid, tower_grids

TILES = 8  # the strongest channels shown per tower, as on the lesson page
UNITS = 12  # the strongest fc units listed
PROBABILITY_COLOUR = "#595959"  # neutral: the two tower colours mean GPU 1 and GPU 2 everywhere
PHOTO_SIDE = 480  # the photo is shrunk to at most this many pixels a side: the handout stays small

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #1f1f1f;
       max-width: 60rem; margin: 0 auto; padding: 1.5rem; line-height: 1.45; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; }
h2 { font-size: 1.3rem; border-bottom: 2px solid #ddd; padding-bottom: .2rem; }
.meta, figcaption, .trail { color: #4a4a4a; font-size: .9rem; }
.step { margin-top: 2rem; }
.shape { font-size: 1.6rem; font-weight: 600; margin: .3rem 0; }
.row { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; }
figure { margin: 0; flex: 1 1 14rem; }
figure img { width: 100%; height: auto; image-rendering: pixelated; border: 1px solid #ddd; }
table { border-collapse: collapse; width: 100%; }
td { padding: .15rem .4rem; vertical-align: middle; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bar { height: .8rem; }
blockquote { margin: .5rem 0; padding-left: .8rem; border-left: 3px solid #ccc; }
@media print {
  body { max-width: none; padding: 0; }
  .step { break-before: page; }
  .step:first-of-type { break-before: auto; }
  figure, table, blockquote { break-inside: avoid; }
}
"""


def _inline(text: str) -> str:
    """The lesson's small markdown (``**bold**``, ``*italic*``, ```code```) as escaped HTML."""
    out = html.escape(text, quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?![*\w])", r"<em>\1</em>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _markdown(text: str) -> str:
    """Paragraphs and ``- `` lists of the lesson's words as HTML."""
    parts = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        if lines and all(ln.startswith(("- ", "* ")) for ln in lines):
            parts.append("<ul>" + "".join(f"<li>{_inline(ln[2:])}</li>" for ln in lines) + "</ul>")
        else:
            parts.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(parts)


def _img(picture: Image.Image | np.ndarray, alt: str) -> str:
    data = base64.b64encode(png_bytes(picture)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _figure(picture: Image.Image | np.ndarray, caption: str) -> str:
    return f"<figure>{_img(picture, caption)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def _bars(rows: list[tuple[str, float, str]], unit: str) -> str:
    """A table of labelled values with proportional bars; ``rows`` are (label, value, colour)."""
    top = max((v for _l, v, _c in rows), default=0.0)
    cells = []
    for label, value, colour in rows:
        width = 0.0 if top <= 0 else max(0.0, value) / top * 100
        cells.append(f'<tr><td>{html.escape(label)}</td><td class="num">{value:.3g}{unit}</td>'
                     f'<td style="width:50%"><div class="bar" style="width:{width:.1f}%;background:{colour}">'
                     f"</div></td></tr>")
    return "<table>" + "".join(cells) + "</table>"


def _picture(step: lessons.Step, net, image: Image.Image, view: Image.Image,
             acts: dict[str, np.ndarray], probs: np.ndarray) -> str:
    """The step's pictures, as the lesson page draws them."""
    arch = net.arch
    if step.number == 1:
        small = image.copy()
        small.thumbnail((PHOTO_SIDE, PHOTO_SIDE))
        return ('<div class="row">' + _figure(small, f"Your photo ({image.width}×{image.height} pixels)")
                + _figure(view, f"What the network sees: {view.width}×{view.height}") + "</div>")
    if step.maps is None:  # the output: the top-5
        order = np.argsort(-probs, kind="stable")[:5]
        return _bars([(net.categories[i], float(probs[i]) * 100, PROBABILITY_COLOUR) for i in order], " %")
    act = acts[step.maps]
    if act.ndim == 1:  # an fc layer: its strongest units, coloured by tower
        towers = arch.towers(step.maps)
        rows = []
        for unit, value in top_units(act, UNITS):
            tower = next(t.name for t in towers if unit in t.channels)
            rows.append((f"unit {unit}" + (f" ({tower})" if len(towers) > 1 else ""), value, TOWER_COLOURS[tower]))
        return (f"<p class=\"meta\">The {UNITS} strongest of {step.maps}'s {act.shape[0]:,} units on this photo.</p>"
                + _bars(rows, ""))
    h = act.shape[1]
    scale = max(1, 64 // h)  # small maps are enlarged so a tile is at least ~64 pixels
    grids = tower_grids(act, step.maps, "max", arch, top=TILES, cols=4, scale=scale, pad=max(1, scale // 2))
    figures = [_figure(grid.rgb("viridis"),
                       (f"{tower}: its {len(grid.channels)} strongest channels" if grid.tower
                        else f"The {len(grid.channels)} strongest channels")
                       + f" of {step.maps} ({', '.join(map(str, grid.channels))})")
               for tower, grid in grids.items()]
    out = ('<div class="row">' + "".join(figures) + "</div>"
           f'<p class="meta">{html.escape(step.maps)} on this photo: each tile is one {h}×{act.shape[2]} map, '
           "strongest first; bright = strong (viridis), each tile on its own scale.</p>")
    if step.number == 2:
        weight = net.body.get_submodule(arch.layer("conv1").module).weight.detach().cpu().numpy()
        kernels = kernel_grid(weight, arch, cols=8, scale=4)
        out += ('<div class="row">' + "".join(
            _figure(grid.image, f"conv1's kernels on {tower}" if grid.tower else "conv1's kernels")
            for tower, grid in kernels.items()) + "</div>"
            '<p class="meta">The kernels themselves: mid grey is a zero weight.</p>')
    return out


def lesson_html(net, image: Image.Image, mode: str = "aspect", *, source: str | None = None,
                acts: dict[str, np.ndarray] | None = None) -> str:
    """The eight-step lesson for ``image`` on ``net`` as one self-contained HTML document.

    ``mode`` is the preprocessing (``"aspect"`` or ``"warp"``), as for ``net.preprocess``;
    ``source`` names the photo in the heading (a file name, a sample's name). ``acts``, every
    activation of that input as ``{name: array without the batch axis}``, saves the forward pass
    where the caller has it already.
    """
    if acts is None:
        with torch.no_grad():
            acts_t = net.activations(net.preprocess(image, mode))
        acts = {name: t[0].detach().cpu().numpy() for name, t in acts_t.items()}
    logits = torch.from_numpy(acts[next(reversed(acts))].copy())
    probs = torch.softmax(logits.double(), dim=0).numpy()
    view = net.view(image, mode)
    steps = lessons.lesson(net.arch)
    untrained = net.weights == "untrained"

    title = "From pixels to a label in eight steps"
    meta = (f"{html.escape(source or 'A photo')} through {html.escape(net.arch.title)} "
            f"({html.escape(net.name)}, weights: {html.escape(str(net.weights))}, preprocessing: {html.escape(mode)})"
            f" — made by AlexNet Explorer on {date.today().isoformat()}.")
    parts = [f"<h1>{title}</h1>", f'<p class="meta">{meta}</p>']
    if untrained:
        parts.append('<p class="meta"><strong>These are an untrained network\'s numbers:</strong> its kernels are '
                     "random and its predictions are chance. The shapes and the arithmetic are the real "
                     "network's.</p>")
    for step in steps:
        label = f"Output of {step.shape_of}" if step.shape_of else "The network's input"
        quotes = "".join(
            f"<blockquote>“{html.escape(q.text)}” ({html.escape(q.section)})</blockquote>" if q.quoted
            else f"<blockquote>{html.escape(q.text)} ({html.escape(q.section)}, in other words)</blockquote>"
            for q in step.paper)
        parts.append(
            f'<section class="step" id="step-{step.number}">'
            f"<h2>Step {step.number} of {lessons.STEPS}: {html.escape(step.title)}</h2>"
            f'<div class="meta">{html.escape(label)}</div><div class="shape">{shape_text(step.shape)}</div>'
            + _picture(step, net, image, view, acts, probs)
            + _markdown(step.computes)
            + f'<p class="trail">Shapes: {html.escape(step.trail)}</p>'
            + f"<p><strong>The paper's words</strong> — {html.escape(lessons.PAPER)}</p>{quotes}"
            + "</section>")
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n{body}\n</body></html>\n")
