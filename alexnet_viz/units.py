"""One unit traced: what it reads, its weights, its arithmetic, and where it sits on the photo.

``trace_unit(net, x, "conv2", channel=130, row=10, col=12)`` answers "how was this number made?"
for one value of one activation: the source values it reads, the kernel, the per-channel
products, the bias, and the value they add up to; its receptive field on the input and its
projective field (the units of the next layer that read it). Everything is read from
activations the caller already has (``acts``), so tracing never runs the network again.
``effective_receptive_field`` is the one function here that runs the network: it needs a
backward pass to take the gradient of the unit with respect to the pixels.

Geometry comes from the layer table alone: one function (``_window``) says which source
positions a unit reads, one (``_reads``) which source channels; the receptive field composes
the first down to the input, and the projective field inverts both, so the three can never
disagree with each other. The tests hold them against torch's own modules.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from .architecture import Architecture, Layer
from .network import Network
from .walkthrough import walkthrough

# Table kinds a unit can be traced through, and the kind a Unit reports.
KINDS = {"conv": "conv", "relu": "relu", "lrn": "lrn", "maxpool": "pool", "adaptiveavgpool": "avgpool",
         "linear": "linear"}
_PASS = ("dropout", "flatten")  # steps that are not activations: nothing to trace there

Window = tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open
Acts = Mapping[str, "torch.Tensor | np.ndarray"]
Position = tuple[str, int, "int | None", "int | None"]  # (layer, channel, row, col), as trace_unit takes it


@dataclass(frozen=True, eq=False)  # eq=False: arrays do not compare to a single bool
class Unit:
    """One value of one activation and everything that made it.

    Shapes are for a conv unit; other kinds are described beside each field.
    ``patch`` past the edge of the source map holds what the layer itself puts there: 0 for a
    conv's zero padding, -inf for a max-pool window hanging over the edge (ceil mode: those
    positions never win the max). An LRN unit's patch holds only the neighbouring channels that
    exist; the zeros Caffe and torch pad past the first and last channel add nothing to Σ a².
    """

    layer: str
    kind: str  # conv, relu, lrn, pool, avgpool or linear
    channel: int
    row: int | None  # None for a unit of a vector (fc) layer
    col: int | None
    value: float
    shape: tuple[int, ...]  # the layer's own (C, H, W), or (features,) for a vector
    source: str  # the activation it reads ("input" for conv1)
    source_shape: tuple[int, ...]  # (C, H, W) of the source, or (features,) for a vector
    in_channels: range  # source channels read; a linear unit: the input features
    window: Window | None  # in source coordinates, unclipped; the whole map for fc6; None for a vector source
    patch: np.ndarray  # conv (Cin, kh, kw); pool/avgpool (1, kh, kw); relu (1, 1, 1); lrn (≤5, 1, 1); linear (features,)
    weight: np.ndarray | None  # conv (Cin, kh, kw); linear (features,); otherwise None
    bias: float | None
    terms: np.ndarray | None  # conv (Cin,) Σ over the window of patch·weight; linear (features,) weight·input; float64
    receptive_field: Window  # in input pixels, unclipped; a vector unit: all that pool5 (or avgpool) sees
    input_box: Window  # the input pixels the unit actually reads: each window clipped to its map, so padding
    # and the last columns no window reaches are left out (229 wide: conv1 reads columns 0-226)
    projective_field: dict[str, tuple[range, Window | None]]  # next layer -> (channels, window or None for a vector)

    def position(self) -> Position:
        """(layer, channel, row, col): what ``trace_unit`` takes to trace this unit again."""
        return self.layer, self.channel, self.row, self.col


# -- the table, read as a graph of named activations -------------------------------------------------
@lru_cache(maxsize=None)
def _index(arch: Architecture) -> dict[str, int]:
    return {layer.name: i for i, layer in enumerate(arch.layers)}


def _source(arch: Architecture, name: str) -> str:
    """The named activation a layer reads: dropout and flatten are skipped, conv1 reads the input."""
    for layer in reversed(arch.layers[:_index(arch)[name]]):
        if layer.kind not in _PASS:
            return layer.name
    return "input"


def _reader(arch: Architecture, name: str) -> str | None:
    """The named activation that reads ``name`` (the networks are chains: at most one)."""
    for layer in arch.layers[_index(arch)[name] + 1:]:
        if layer.kind not in _PASS:
            return layer.name
    return None


@lru_cache(maxsize=64)  # bounded: sizes come from whatever images callers pass
def _shapes(arch: Architecture, h: int, w: int) -> dict[str, tuple[int, ...] | str]:
    """Each layer's output shape for an h×w input, or the walkthrough's sentence saying why the
    network cannot get that far. Rows and columns are worked out separately so any h×w works."""
    rows_h, rows_w = walkthrough(arch, h), walkthrough(arch, w)
    shapes: dict[str, tuple[int, ...] | str] = {"input": (arch.in_channels, h, w)}
    for rh, rw in zip(rows_h, rows_w):
        if rh.output_shape is None or rw.output_shape is None:
            shapes[rh.name] = (rh.problem or rw.problem or f"{arch.name} cannot compute {rh.name} "
                               f"on a {h}×{w} input.")
        elif len(rh.output_shape) == 3:
            shapes[rh.name] = (rh.output_shape[0], rh.output_shape[1], rw.output_shape[2])
        else:
            shapes[rh.name] = rh.output_shape
    return shapes


def _describe(name: str, shape: tuple[int, ...]) -> str:
    if len(shape) == 1:
        return f"{name} is a vector of {shape[0]} units ({shape[0]})"
    c, h, w = shape
    return f"{name} has {c} channels of {h}×{w} ({c}×{h}×{w})"


# -- geometry: which source positions and channels one unit reads ----------------------------------
def _window(layer: Layer, interval: tuple[int, int], n_in: int, n_out: int) -> tuple[int, int]:
    """The source rows (half-open, unclipped) that output rows [a, b) of ``layer`` read, along one
    side whose input has n_in positions and output n_out."""
    a, b = interval
    if layer.kind in ("conv", "maxpool"):
        return a * layer.stride - layer.padding, (b - 1) * layer.stride - layer.padding + layer.kernel
    if layer.kind == "adaptiveavgpool":  # torch's adaptive windows: floor(o·n/m) to ceil((o+1)·n/m)
        return (a * n_in) // n_out, -((-b * n_in) // n_out)
    return a, b  # relu, lrn, dropout: position by position


def _reads(arch: Architecture, layer: Layer, channel: int, c_in: int) -> range:
    """The source channels that output ``channel`` of ``layer`` reads, out of c_in (a conv's:
    the architecture's ``input_channels``, from the table's groups)."""
    if layer.kind == "conv":
        return arch.input_channels(layer.name, channel)
    if layer.kind == "linear":
        return range(c_in)
    if layer.kind == "lrn":  # torch pads size//2 channels before and (size-1)//2 after
        n = layer.lrn.size
        return range(max(0, channel - n // 2), min(c_in, channel + (n - 1) // 2 + 1))
    return range(channel, channel + 1)


def _down(arch: Architecture, shapes: dict, top: str, bottom: str, box: Window | None,
          clip: bool = False) -> Window | None:
    """Carry a box of ``top``'s output down to ``bottom``'s output (or the input), layer by layer.
    None stands for the whole of a vector; a flatten turns it into the whole of its map. With
    ``clip`` each window is cut to the map it reads: what the unit's value can depend on."""
    i = _index(arch)[top]
    stop = -1 if bottom == "input" else _index(arch)[bottom]
    while i > stop:
        layer = arch.layers[i]
        below = shapes["input" if i == 0 else arch.layers[i - 1].name]
        if layer.kind == "linear":
            box = None
        elif layer.kind == "flatten":
            box = (0, below[1], 0, below[2])
        elif box is not None:
            out = shapes[layer.name]
            box = (*_window(layer, box[:2], below[1], out[1]), *_window(layer, box[2:], below[2], out[2]))
            if clip:  # padding and a window hanging over the edge (ceil rounding) read nothing there
                box = (max(box[0], 0), min(box[1], below[1]), max(box[2], 0), min(box[3], below[2]))
        i -= 1
    return box


def _overlap(box: Window, h: int, w: int) -> tuple[slice, slice, slice, slice]:
    """Slices into a h×w map and into a box-sized patch for the part of ``box`` inside the map."""
    y0, y1, x0, x1 = box
    cy0, cy1, cx0, cx1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    return (slice(cy0, cy1), slice(cx0, cx1), slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))


def _crop(src: np.ndarray, channels: range, box: Window, fill: float) -> np.ndarray:
    """src[channels, y0:y1, x0:x1] with ``fill`` wherever the box leaves the map."""
    y0, y1, x0, x1 = box
    out = np.full((len(channels), y1 - y0, x1 - x0), fill, dtype=np.float32)
    my, mx, py, px = _overlap(box, src.shape[1], src.shape[2])
    out[:, py, px] = src[channels.start:channels.stop, my, mx]
    return out


# -- reading what the caller has --------------------------------------------------------------------
def _as_array(value, shape: tuple[int, ...] | None, name: str, ndim: int | None = None) -> np.ndarray:
    """One activation as a float32 numpy array without the batch: a torch tensor (1, ...) from
    ``net.activations`` or an array (...) as the app caches them, either works. Checked against
    ``shape`` where given, else only its number of dimensions."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    a = np.asarray(value, dtype=np.float32)
    ndim = len(shape) if shape is not None else ndim
    if a.ndim == ndim + 1 and a.shape[0] == 1:
        a = a[0]
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"The activations given for {name} are shaped {a.shape}, but this image's {name} "
                         f"is {tuple(shape)}: were they computed from another image or network?")
    return a


def _check_index(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise ValueError(f"The {what} must be a whole number, not {v!r}.")
    return int(v)


def _locate(net: Network, x: torch.Tensor, layer: str, channel, row, col):
    """Check that (layer, channel, row, col) is a unit of this network on this image: returns the
    table row, the layer's shape and the clean indices, or a ValueError naming the layer's shape."""
    arch = net.arch
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[0] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"Units are traced for one image: x must be shaped (1, {arch.in_channels}, H, W), "
                         f"not {shape}.")
    if layer not in _index(arch):
        raise ValueError(f"{arch.name} has no layer named {layer!r}; its activations are "
                         f"{', '.join(n for n in arch.names() if arch.layer(n).kind not in _PASS)}.")
    row_ = arch.layer(layer)
    if row_.kind in _PASS:
        raise ValueError(f"{layer} is a {row_.kind} step, not an activation: it has no units of its own; "
                         f"trace {_source(arch, layer)} or {_reader(arch, layer)} instead.")
    if row_.kind not in KINDS:
        raise ValueError(f"Units of {row_.kind} layers cannot be traced yet; {layer} is one "
                         f"(traceable kinds: {', '.join(KINDS)}).")
    shape = _shapes(arch, int(x.shape[2]), int(x.shape[3]))[layer]
    if isinstance(shape, str):
        raise ValueError(shape)
    channel = _check_index(channel, "channel")
    if not 0 <= channel < shape[0]:
        raise ValueError(f"{_describe(layer, shape)}; there is no channel {channel}.")
    if len(shape) == 1:
        if row is not None or col is not None:
            raise ValueError(f"{_describe(layer, shape)}, without rows or columns: "
                             f"give row=None, col=None.")
        return row_, shape, channel, None, None
    if row is None or col is None:
        raise ValueError(f"{_describe(layer, shape)}: give a row and a column as well as the channel.")
    row, col = _check_index(row, "row"), _check_index(col, "column")
    if not (0 <= row < shape[1] and 0 <= col < shape[2]):
        raise ValueError(f"{_describe(layer, shape)}; there is no unit at row {row}, column {col}.")
    return row_, shape, channel, row, col


def _param(net: Network, layer: Layer, name: str, index) -> np.ndarray:
    """A slice of a layer's weight or bias, as a numpy copy; sliced before it leaves the device
    (fc6's whole weight is 150 MB)."""
    return getattr(net.body.get_submodule(layer.module), name)[index].detach().cpu().numpy().copy()


def _get(acts: Acts, name: str, layer: str):
    try:
        return acts[name]
    except KeyError:
        raise ValueError(f"The activations given hold no {name}: tracing {layer} needs {layer} and "
                         f"the layer it reads, {name}.") from None


# -- the public functions ---------------------------------------------------------------------------
def trace_unit(net: Network, x: torch.Tensor, layer: str, channel: int, row: int | None = None,
               col: int | None = None, acts: Acts | None = None) -> Unit:
    """Everything that made one value of ``layer`` on image ``x`` (1, 3, H, W).

    ``acts`` are the activations the caller already has for ``x``: ``net.activations(x)``
    itself (torch tensors with the batch dimension) or numpy arrays without it, as the app
    caches them; they need to hold ``layer`` and the layer it reads. With ``acts`` the network
    does not run at all; without, it runs once, up to ``layer``. Fc units take row=None, col=None.
    """
    spec, shape, channel, row, col = _locate(net, x, layer, channel, row, col)
    arch = net.arch
    shapes = _shapes(arch, int(x.shape[2]), int(x.shape[3]))
    if acts is None:
        with torch.no_grad():
            acts = net.activations(x, upto=layer)
    source = _source(arch, layer)
    src_shape = shapes[source]
    out = _as_array(_get(acts, layer, layer), shape, layer)
    src = _as_array(x if source == "input" else _get(acts, source, layer), src_shape, source)
    value = float(out[channel] if row is None else out[channel, row, col])

    kind = KINDS[spec.kind]
    in_channels = _reads(arch, spec, channel, src_shape[0] if kind != "linear" else math.prod(src_shape))
    here = None if row is None else (row, row + 1, col, col + 1)
    window = _down(arch, shapes, layer, source, here)
    weight = bias = terms = None
    if kind == "linear":
        patch = src.reshape(-1).copy()  # (features,), flattened in (C, H, W) order like fc6's weights
        weight = _param(net, spec, "weight", channel)  # (features,)
        bias = float(_param(net, spec, "bias", channel))
        terms = weight.astype(np.float64) * patch
    elif row is None:  # relu of an fc layer
        patch = src[in_channels.start:in_channels.stop].reshape(-1, 1, 1).copy()  # (1, 1, 1)
    else:
        patch = _crop(src, in_channels, window, -np.inf if kind == "pool" else 0.0)
        if kind == "conv":
            weight = _param(net, spec, "weight", channel)  # (Cin, kh, kw)
            bias = float(_param(net, spec, "bias", channel))
            terms = (patch.astype(np.float64) * weight).sum(axis=(1, 2))  # (Cin,)
    for a in (patch, weight, terms):
        if a is not None:
            a.flags.writeable = False
    return Unit(layer=layer, kind=kind, channel=channel, row=row, col=col, value=value, shape=tuple(shape),
                source=source, source_shape=tuple(src_shape), in_channels=in_channels, window=window,
                patch=patch, weight=weight, bias=bias, terms=terms,
                receptive_field=_down(arch, shapes, layer, "input", here),
                input_box=_down(arch, shapes, layer, "input", here, clip=True),
                projective_field=_projective_field(arch, shapes, layer, channel, here))


def _projective_field(arch: Architecture, shapes: dict, layer: str, channel: int,
                      here: Window | None) -> dict[str, tuple[range, Window | None]]:
    """The units of the next layer whose inputs include this one: the inverse of ``_reads`` and
    ``_window``, found by asking every output channel and position. A unit that floor rounding
    leaves unread (the last rows of a map) has no reader, and the next layer is left out."""
    reader = _reader(arch, layer)
    if reader is None:
        return {}
    spec, out = arch.layer(reader), shapes[reader]
    if isinstance(out, str):  # the network cannot reach the reader on this image
        return {}
    c_in = math.prod(shapes[layer]) if spec.kind == "linear" else shapes[layer][0]
    feature = channel  # what the reader calls this unit: fc6 reads pool5 flattened in (C, H, W) order
    if spec.kind == "linear" and here is not None:
        feature = int(np.ravel_multi_index((channel, here[0], here[2]), shapes[layer]))
    channels = [o for o in range(out[0]) if feature in _reads(arch, spec, o, c_in)]
    if len(out) == 1:
        return {reader: (range(channels[0], channels[-1] + 1), None)}
    sides = []
    for axis, pos in ((1, here[0]), (2, here[2])):
        hit = [o for o in range(out[axis])
               if pos in range(*_window(spec, (o, o + 1), shapes[layer][axis], out[axis]))]
        if not hit:
            return {}
        sides += [hit[0], hit[-1] + 1]
    return {reader: (range(channels[0], channels[-1] + 1), tuple(sides))}


def effective_receptive_field(net: Network, x: torch.Tensor, layer: str, channel: int,
                              row: int | None = None, col: int | None = None) -> np.ndarray:
    """|∂unit/∂pixel| summed over the colour channels: an (H, W) array the size of ``x``'s image.

    Runs the network up to ``layer`` and back once, on a private copy of ``x`` that requires
    grad. No hooks, and the shared network is untouched (its weights never require grad).
    """
    _locate(net, x, layer, channel, row, col)
    xi = x.detach().clone().requires_grad_(True)  # (1, 3, H, W)
    with torch.enable_grad():
        a = net.activations(xi, upto=layer)[layer][0]  # (C, h, w) or (features,)
        unit = a[channel] if row is None else a[channel, row, col]
        (grad,) = torch.autograd.grad(unit, xi)  # (1, 3, H, W)
    return grad[0].abs().sum(0).cpu().numpy()  # (H, W)


def strongest_input(u: Unit) -> Position:
    """The source unit that contributed most to ``u``, as (layer, channel, row, col).

    conv: the largest patch·weight product inside the source map (padding contributes nothing);
    linear: the input feature with the largest term (a position in pool5 or avgpool for fc6);
    pool and avgpool: the largest value in the window; relu and lrn: the same position.
    For conv1 the layer is "input" and the channel a colour: the end of the walk down.
    """
    if u.kind in ("relu", "lrn"):
        return u.source, u.channel, u.row, u.col
    if u.kind == "linear":
        f = int(np.argmax(u.terms))
        if len(u.source_shape) == 1:
            return u.source, f, None, None
        c, r, q = np.unravel_index(f, u.source_shape)
        return u.source, int(c), int(r), int(q)
    score = u.patch.astype(np.float64) * u.weight if u.kind == "conv" else u.patch.astype(np.float64)
    inside = np.full(score.shape, -np.inf)
    my, mx, py, px = _overlap(u.window, u.source_shape[1], u.source_shape[2])
    inside[:, py, px] = score[:, py, px]
    c, dy, dx = np.unravel_index(int(np.argmax(inside)), inside.shape)
    return u.source, u.in_channels.start + int(c), u.window[0] + int(dy), u.window[2] + int(dx)


def strongest_reader(net: Network, acts: Acts, u: Unit) -> Position | None:
    """The unit of the next layer that ``u`` pushes hardest: the largest weight·value over its
    projective field, as (layer, channel, row, col); None for the last layer.

    conv and linear readers: the kernel or fc weight that meets ``u``, times ``u.value``, ties
    (a dead unit's zeros) broken by the weight alone; avgpool: value / window area; max-pool: the
    window ``u`` wins (the reader's value equals ``u``'s), or else comes closest to winning; relu and
    lrn: the same position (LRN's neighbours are only pushed down). ``acts`` as for trace_unit;
    only max-pool readers look at them.
    """
    if not u.projective_field:
        return None
    ((reader, (channels, box)),) = u.projective_field.items()
    spec = net.arch.layer(reader)
    if spec.kind in ("relu", "lrn"):
        return reader, u.channel, u.row, u.col
    if spec.kind == "linear":
        f = u.channel if u.row is None else int(np.ravel_multi_index((u.channel, u.row, u.col), u.shape))
        w = _param(net, spec, "weight", (slice(None), f))  # (out,)
        return reader, _best(w, u.value), None, None
    ys, xs = np.arange(box[0], box[1]), np.arange(box[2], box[3])
    if spec.kind == "conv":
        w = _param(net, spec, "weight", slice(channels.start, channels.stop))  # (readers, Cin/groups, k, k)
        first = _reads(net.arch, spec, channels.start, u.shape[0]).start
        oc, oy, ox = (a.reshape(-1) for a in np.meshgrid(np.arange(channels.start, channels.stop), ys, xs,
                                                         indexing="ij"))
        ky = u.row - (oy * spec.stride - spec.padding)  # where u sits in each reader's kernel
        kx = u.col - (ox * spec.stride - spec.padding)
        i = _best(w[oc - channels.start, u.channel - first, ky, kx], u.value)
        return reader, int(oc[i]), int(oy[i]), int(ox[i])
    cells = [(int(y), int(x)) for y in ys for x in xs]
    if spec.kind == "maxpool":  # the window u wins, or else comes closest to winning
        out = _as_array(acts[reader], None, reader, ndim=3)
        y, x = min(cells, key=lambda c: float(out[u.channel, c[0], c[1]]) - u.value)
        return reader, u.channel, y, x
    # adaptive average pooling: each reader weighs u by 1 / the area of its window
    n_out = _as_array(acts[reader], None, reader, ndim=3).shape[1:]
    area = [np.subtract(*_window(spec, (y, y + 1), u.shape[1], n_out[0])[::-1])
            * np.subtract(*_window(spec, (x, x + 1), u.shape[2], n_out[1])[::-1]) for y, x in cells]
    y, x = cells[_best(1.0 / np.array(area, dtype=np.float64), u.value)]
    return reader, u.channel, y, x


def _best(weights: np.ndarray, value: float) -> int:
    """The index of the largest weight·value; where value is 0 every product ties, and the
    largest weight (what the reader would get if u fired) decides."""
    w = np.asarray(weights, dtype=np.float64)
    return int(np.argmax(w * value if value != 0 else w))
