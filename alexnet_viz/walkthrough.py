"""Shape, parameter, MAC, memory and receptive-field arithmetic, derived from the layer tables.

Nothing here builds a network: the numbers come from the table alone, and the tests hold them
against real tensors at several input sizes. Per layer (``walkthrough``), and per GPU tower
(``tower_bytes``: the paper's two GTX 580s, §3.2, and what crosses between them).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import lru_cache

from .architecture import WHOLE, Architecture, Layer, get_architecture

BYTES_PER_VALUE = 4  # float32 activations
GTX_580_BYTES = 3 * 2**30  # each of the paper's two GPUs had 3 GB (§3.2)
PAPER_BATCH = 128  # the paper's batch size (§5)


@dataclass(frozen=True)
class ReceptiveField:
    size: float  # how many input pixels one unit sees (side of the square)
    jump: float  # input pixels between neighbouring units
    start: float  # input coordinate of the centre of unit 0 (pixel centres at 0, 1, 2, ...)


@dataclass(frozen=True)
class WalkRow:
    name: str
    kind: str
    input_shape: tuple[int, ...] | None  # without the batch dimension
    output_shape: tuple[int, ...] | None  # None where the network cannot run this far
    formula: str
    params: int
    macs: int
    memory_bytes: int
    receptive_field: ReceptiveField | None  # None for layers that see the whole input
    exact: bool  # False where the output size formula is not a whole number
    problem: str | None
    towers: tuple[int, ...] | None  # channels per GPU tower, e.g. (48, 48)
    cross_tower: bool
    note: str

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("input_shape", "output_shape", "towers"):
            d[key] = list(d[key]) if d[key] is not None else None
        return d


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.2f}".rstrip("0").rstrip(".")


def _window_side(n: int, layer: Layer) -> tuple[int, str, bool, str | None]:
    """Output side of a conv/pool window over an input side of n: (side, formula, exact, problem)."""
    k, s, p = layer.kernel, layer.stride, layer.padding
    raw = (n - k + 2 * p) / s + 1
    exact = float(raw).is_integer()
    if layer.ceil_mode:
        out = math.ceil((n - k + 2 * p) / s) + 1
        if (out - 1) * s >= n + p:  # PyTorch's (and Caffe's) rule: the last window must start inside
            out -= 1
        rounding = "rounded up, as Caffe does"
    else:
        out = math.floor((n - k + 2 * p) / s) + 1
        rounding = "rounded down: the last rows and columns are never seen"
    formula = f"({n} − {k} + 2·{p})/{s} + 1 = {_fmt(raw)}"
    if not exact:
        formula += f" → {out} ({rounding})"
    problem = None
    if out < 1:
        problem = f"the input is too small: {layer.name} needs at least {k - 2 * p} pixels and gets {n}."
    elif not exact:
        problem = f"{layer.name}'s output side is {_fmt(raw)}, not a whole number; it is {rounding}."
    return out, formula, exact, problem


def _split(arch: Architecture, layer: Layer) -> tuple[int, ...] | None:
    """Channels per tower of a conv or fc row, e.g. (48, 48); None where it is not split."""
    towers = arch.towers(layer.name)
    return tuple(len(t.channels) for t in towers) if len(towers) > 1 else None


def trace_shapes(arch: Architecture, input_size: int):
    """Yield (layer, input_shape, output_shape, exact) in order; stops where the network cannot run."""
    for row, layer in zip(walkthrough(arch, input_size), arch.layers):
        if row.output_shape is None:
            return
        yield layer, row.input_shape, row.output_shape, row.exact


@lru_cache(maxsize=None)
def _design_rows(arch: Architecture) -> tuple[WalkRow, ...]:
    """The walkthrough at the size the variant was built for: the modules' shapes come from it."""
    return tuple(walkthrough(arch, arch.input_size, _check_fc=False))


def _fc_inputs(arch: Architecture) -> int:
    """How many inputs the first linear layer was built for (at the variant's design size)."""
    for row in _design_rows(arch):
        if row.kind == "flatten":
            return row.output_shape[0]
    raise AssertionError(f"{arch.name} has no flatten step")


def walkthrough(model: str | Architecture, input_size: int | None = None, _check_fc: bool = True) -> list[WalkRow]:
    """Per layer: shapes, the formula with numbers, params, MACs, memory, receptive field, towers."""
    arch = get_architecture(model) if isinstance(model, str) else model
    if input_size is not None and (isinstance(input_size, bool) or int(input_size) != input_size):
        raise ValueError(f"The input size must be a whole number of pixels, not {input_size!r}.")
    size = arch.input_size if input_size is None else int(input_size)
    if size < 1:
        raise ValueError(f"The input size must be a positive number of pixels, not {size}.")
    expected_fc = _fc_inputs(arch) if _check_fc else None
    # Layers past the point where the network stops still exist: report the parameters they
    # were built with, so the total does not depend on the input size.
    design = _design_rows(arch) if _check_fc else None
    shape: tuple[int, ...] | None = (arch.in_channels, size, size)
    rf = ReceptiveField(1, 1, 0)
    towers: tuple[int, ...] | None = None
    rows: list[WalkRow] = []
    blocked: str | None = None
    for layer in arch.layers:
        in_shape = shape
        formula, params, macs, exact, problem = "", 0, 0, True, None
        if shape is None:
            built = design[len(rows)] if design is not None else None
            rows.append(WalkRow(layer.name, layer.kind, None, None, "—", built.params if built else 0, 0, 0,
                                None, True, blocked, built.towers if built else None, layer.cross_tower,
                                layer.note))
            continue
        k = layer.kind
        if k in ("conv", "maxpool"):
            c, h, w = shape
            side, formula, exact, problem = _window_side(h, layer)
            if k == "conv":
                cin = c // layer.groups
                params = layer.out_channels * cin * layer.kernel ** 2 + layer.out_channels
                macs = layer.out_channels * cin * layer.kernel ** 2 * side * side
                c = layer.out_channels
                towers = _split(arch, layer)
            shape = (c, side, side) if side >= 1 else None
            rf = ReceptiveField(rf.size + (layer.kernel - 1) * rf.jump, rf.jump * layer.stride,
                                rf.start + ((layer.kernel - 1) / 2 - layer.padding) * rf.jump)
            if shape is None:
                blocked = f"The network cannot run at {size}×{size}: {problem}"
        elif k == "adaptiveavgpool":
            c, h, w = shape
            out = layer.kernel
            kk, ss = math.ceil(h / out), max(1, h // out)
            formula = f"adaptive: {h} → {out}" + ("" if h == out else f" (windows of about {kk}, stride {ss})")
            shape = (c, out, out)
            rf = ReceptiveField(rf.size + (kk - 1) * rf.jump, rf.jump * ss, rf.start + (kk - 1) / 2 * rf.jump)
        elif k == "flatten":
            n = math.prod(shape)
            formula = " × ".join(map(str, shape)) + f" = {n}"
            shape = (n,)
            if expected_fc is not None and n != expected_fc:
                problem = (f"The network cannot run at {size}×{size}: its first fc layer expects "
                           f"{expected_fc} inputs, but the last pooling layer gives "
                           f"{' × '.join(map(str, in_shape))} = {n}.")
                blocked = problem
                exact = False
        elif k == "linear":
            n = shape[0]
            params = n * layer.out_channels + layer.out_channels
            macs = n * layer.out_channels
            formula = f"{n} × {layer.out_channels} weights + {layer.out_channels} biases"
            shape = (layer.out_channels,)
            towers = _split(arch, layer)
            rf = None
        elif k == "batchnorm":
            params = 4 * shape[0]
            formula = f"4 × {shape[0]} (γ, β, running mean, running variance)"
        elif k == "lrn":
            s = layer.lrn
            formula = f"a / ({_fmt(s.k)} + {s.alpha:g}/{s.size} · Σ a² over {s.size} channels)^{s.beta:g}"
        elif k in ("relu", "dropout", "softmax"):
            formula = {"relu": "max(0, a)", "dropout": f"p = {layer.p} in training; identity at inference",
                       "softmax": "exp(a) / Σ exp(a)"}[k]
        else:
            raise ValueError(f"unknown layer kind {k!r} in {arch.name}")
        out_shape = shape if blocked is None else None
        if blocked is not None and problem is None:
            problem = blocked
        memory = math.prod(out_shape) * BYTES_PER_VALUE if out_shape else 0
        rows.append(WalkRow(layer.name, k, in_shape, out_shape, formula, params, macs, memory,
                            rf if (rf is not None and out_shape and len(out_shape) == 3) else None,
                            exact, problem, towers if layer.kind not in ("flatten",) else None,
                            layer.cross_tower, layer.note))
        if blocked is not None:
            shape = None
    return rows


def total_params(rows: list[WalkRow]) -> int:
    """The network's parameter count (BatchNorm counted as Keras counts it: 4 per channel)."""
    return sum(r.params for r in rows)


def param_formula(row: WalkRow, layer: Layer) -> str:
    """How ``row.params`` is made, with the numbers filled in, e.g. for alexnet2012's conv2:
    "256 kernels × 48×5×5 weights + 256 biases = 307,456 (2 groups: each kernel reads 48 of the
    96 input channels)"."""
    if row.name != layer.name:
        raise ValueError(f"The row is {row.name} but the layer is {layer.name}.")
    if row.input_shape is None:
        return f"{row.params:,} (as built; the network does not run this far at this size)"
    if row.kind == "conv":
        cin = row.input_shape[0]
        per = cin // layer.groups
        text = (f"{layer.out_channels} kernels × {per}×{layer.kernel}×{layer.kernel} weights + "
                f"{layer.out_channels} biases = {row.params:,}")
        if layer.groups > 1:
            text += f" ({layer.groups} groups: each kernel reads {per} of the {cin} input channels)"
        return text
    if row.kind in ("linear", "batchnorm"):
        return f"{row.formula} = {row.params:,}"
    return f"no parameters: {row.formula}" if row.formula else "no parameters"


def viewable_layers(arch: Architecture | str) -> dict[str, str]:
    """The layers ``net.activations`` returns, in order: name -> "map" (C, H, W) or "vector" (fc).

    Flatten and dropout steps are left out, as the network leaves them out of its activations.
    """
    arch = get_architecture(arch) if isinstance(arch, str) else arch
    return {row.name: ("map" if len(row.output_shape) == 3 else "vector")
            for row in walkthrough(arch, arch.input_size)
            if row.kind not in ("flatten", "dropout") and row.output_shape is not None}


def layer_receptive_field(layer: Layer | str, arch: Architecture | str,
                          input_size: int | None = None) -> ReceptiveField:
    """The receptive field (size, jump, start) of a map layer at ``input_size`` (default: the crop)."""
    arch = get_architecture(arch) if isinstance(arch, str) else arch
    name = layer if isinstance(layer, str) else layer.name
    for row in walkthrough(arch, input_size or arch.input_size):
        if row.name == name:
            if row.receptive_field is None:
                raise ValueError(f"{name} has no spatial map, so no receptive field to place on the input.")
            return row.receptive_field
    raise KeyError(f"{arch.name} has no layer named {name!r}.")


def split_layers(arch: Architecture) -> list[str]:
    """The conv and fc layers whose units are split over GPU towers (conv1–conv5, fc6, fc7)."""
    return [layer.name for layer in arch.layers if layer.kind in ("conv", "linear") and layer.towers > 1]


# -- the two towers in bytes (§3.2) ------------------------------------------------------------------
@dataclass(frozen=True)
class TowerBytes:
    """Per tower: parameters, multiply-adds and activation memory per image; where the towers talk."""

    towers: tuple[str, ...]  # ("GPU 1", "GPU 2")
    params: dict[str, int]  # per tower, plus WHOLE for layers not split (fc8)
    macs: dict[str, int]
    activation_bytes: dict[str, int]  # per image, every layer's output, float32
    crossings: list[dict]  # one row per layer that reads the other tower: layer, reads, bytes per image
    batch: int = PAPER_BATCH
    gpu_bytes: int = GTX_580_BYTES

    @property
    def cross_bytes_per_image(self) -> int:
        """What the paper's layout sends between the GPUs per image (Caffe's LRN rows left out)."""
        return sum(row["bytes per image"] for row in self.crossings if not row["caffe only"])

    @property
    def cross_bytes_per_batch(self) -> int:
        return self.cross_bytes_per_image * self.batch

    def rows(self) -> list[dict]:
        """A table: one row per tower (and one for what is not split), with the share of 3 GB
        that its weights and one 128-image batch of activations take."""
        out = []
        for name in (*self.towers, WHOLE):
            if not self.params.get(name):
                continue
            weights = self.params[name] * BYTES_PER_VALUE
            batch = self.activation_bytes[name] * self.batch
            out.append({"tower": name if name != WHOLE else "not split (fc8)",
                        "parameters": self.params[name], "multiply-adds per image": self.macs[name],
                        "activations per image (bytes)": self.activation_bytes[name],
                        f"weights + activations of {self.batch} images (bytes)": weights + batch,
                        "share of a GTX 580's 3 GB": (weights + batch) / self.gpu_bytes})
        return out


def tower_bytes(model="alexnet2012", batch: int = PAPER_BATCH) -> TowerBytes:
    """The two-tower accounting of §3.2, from the walkthrough at the variant's input size.

    A split layer's parameters, MACs and outputs divide evenly between its towers (each tower
    computes its own channels). A layer that reads both towers (conv3, fc6, fc7) needs the other
    tower's half of its input copied over; fc8, not split, is placed on the first tower, so only
    the second tower's half of fc7 crosses. Caffe's LRN window (5 channels across all 96 or
    256) also needs the 2 channels either side of the boundary from the other tower; the paper's
    cuda-convnet normalised within each GPU, so those rows are marked "Caffe only". Forward pass
    only: training sends the gradients of the same values back.
    """
    arch = get_architecture(model) if isinstance(model, str) else model
    rows = walkthrough(arch)
    names = tuple(arch.tower_names)
    if not split_layers(arch):
        raise ValueError(f"{arch.name} runs as one tower: there is nothing to split between two GPUs.")
    params = {n: 0 for n in (*names, WHOLE)}
    macs, mem = dict(params), dict(params)
    crossings = []
    prev = None
    for row in rows:
        towers = row.towers
        if towers:
            for name, width in zip(names, towers):
                share = width / sum(towers)
                params[name] += round(row.params * share)
                macs[name] += round(row.macs * share)
                mem[name] += round(row.memory_bytes * share)
        else:
            params[WHOLE] += row.params
            macs[WHOLE] += row.macs
            mem[WHOLE] += row.memory_bytes
        if row.cross_tower and prev is not None and prev.towers:
            per_value = prev.memory_bytes // sum(prev.towers)  # bytes of one channel (or unit)
            # each tower receives the other towers' channels; an unsplit reader lives on the first
            receivers = names if row.towers else names[:1]
            crossed = sum(per_value * sum(w for n, w in zip(names, prev.towers) if n != r) for r in receivers)
            crossings.append({"layer": row.name, "reads": prev.name,
                              "values crossing": crossed // BYTES_PER_VALUE, "bytes per image": crossed,
                              f"bytes per {batch}-image batch": crossed * batch, "caffe only": False})
        if row.kind == "lrn" and row.towers:
            c, h, w = row.output_shape
            half = arch.layer(row.name).lrn.size // 2
            crossed = 2 * half * h * w * BYTES_PER_VALUE  # `half` channels each way across the boundary
            crossings.append({"layer": row.name, "reads": prev.name, "values crossing": crossed // BYTES_PER_VALUE,
                              "bytes per image": crossed, f"bytes per {batch}-image batch": crossed * batch,
                              "caffe only": True})
        if row.kind not in ("flatten", "dropout"):  # fc6 reads pool5's maps, flattened
            prev = row
    return TowerBytes(names, params, macs, mem, crossings, batch)
