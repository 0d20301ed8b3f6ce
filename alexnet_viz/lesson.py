"""The guided lesson "From pixels to a label in eight steps": one stage of the network per step.

Each step says what its stage computes in plain words, with the numbers of the variant's own
table; its output shape comes from the walkthrough; the paper's words are short quotations
and paraphrases with their section numbers. Words about the two GPUs appear only for a variant
that has two towers. The pictures are the app's business: a step names the activation to draw.
"""
from __future__ import annotations

from dataclasses import dataclass

from .architecture import PREPROCESSING, Architecture, get_architecture
from .render.tables import shape_text
from .walkthrough import WalkRow, walkthrough

PAPER = "Krizhevsky, Sutskever & Hinton (2012)"
STEPS = 8
# The first layer of each stage, by step; a stage runs to the layer before the next one starts.
_STARTS = {2: "conv1", 4: "conv2", 5: "conv3", 6: "conv4", 7: "flatten", 8: "fc8"}


@dataclass(frozen=True)
class Quote:
    """The paper's words: a short quotation (``quoted``) or a paraphrase, and where they are."""

    section: str  # "§3.5", "Figure 3", "Abstract"
    text: str
    quoted: bool = True
    towers: bool = False  # about the two GPUs: left out for a one-tower variant


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    layers: tuple[str, ...]  # the table's rows this stage covers; empty for the input
    shape_of: str | None  # the row whose output shape the step shows; None: the network's input
    shape: tuple[int, ...]  # from the walkthrough at the variant's crop size
    maps: str | None  # the activation to draw: a (C, H, W) map or an (N,) vector; None: photo / top-5
    computes: str  # plain words (markdown)
    paper: tuple[Quote, ...]
    trail: str  # "conv2 256×27×27 → relu2 → norm2 → pool2 256×13×13"


def _stages(arch: Architecture) -> dict[int, tuple[str, ...]]:
    names = arch.names()
    missing = [n for n in _STARTS.values() if n not in names]
    if missing:
        raise ValueError(f"The lesson follows the paper's stages; {arch.name} has no {', '.join(missing)}.")
    starts = {step: names.index(name) for step, name in _STARTS.items()}
    starts[3] = starts[2] + 1  # everything between conv1 and conv2: ReLU, LRN, pooling
    bounds = sorted(starts.items())
    out = {1: ()}
    for (step, i), (_next, j) in zip(bounds, bounds[1:] + [(None, len(names))]):
        out[step] = tuple(names[i:j])
    return out


def _trail(layers: tuple[str, ...], rows: dict[str, WalkRow], first_input: bool = False) -> str:
    """Layer names in order, each with its output shape where that changes."""
    parts, last = [], None
    if first_input and layers:
        last = rows[layers[0]].input_shape
        parts.append(f"input {shape_text(last)}")
    for name in layers:
        shape = rows[name].output_shape
        parts.append(name if shape == last else f"{name} {shape_text(shape)}")
        last = shape
    return " → ".join(parts)


def _q(section: str, text: str, quoted: bool = True, towers: bool = False) -> Quote:
    return Quote(section, text, quoted, towers)


def lesson(model: str | Architecture) -> tuple[Step, ...]:
    """The eight steps for ``model`` at the crop size its preprocessing gives."""
    arch = get_architecture(model) if isinstance(model, str) else model
    prep = PREPROCESSING[arch.name]
    size = prep.crop
    rows = {r.name: r for r in walkthrough(arch, size)}
    if list(rows.values())[-1].output_shape is None:
        raise ValueError(f"{arch.name} cannot run at its own crop size {size}.")
    stages = _stages(arch)
    two = len(arch.towers("conv1")) > 1
    L = arch.layer

    def first(step: int, kind: str) -> str | None:
        return next((n for n in stages[step] if L(n).kind == kind), None)

    def last_map(step: int) -> str:
        return [n for n in stages[step] if rows[n].output_shape and len(rows[n].output_shape) == 3][-1]

    def halves(name: str) -> str:
        t = arch.towers(name)
        return f"{len(t[0].channels)} on each GPU"

    steps: list[Step] = []

    # 1. The photo -> the input
    c1 = L("conv1")
    in_shape = rows["conv1"].input_shape
    paper_size = (224 - c1.kernel + 2 * c1.padding) / c1.stride + 1
    words = (f"The photo is scaled so that its shorter side is {prep.resize} pixels, and the central "
             f"{size}×{size} square is cut out. Each pixel becomes {in_shape[0]} numbers (red, green, blue): "
             f"{prep.note} The network never sees the photo again — from here on it is a block of "
             f"{shape_text(in_shape)} = {in_shape[0] * in_shape[1] * in_shape[2]:,} numbers.")
    paper = [_q("§2", "we first rescaled the image such that the shorter side was of length 256, and then "
                      "cropped out the central 256×256 patch"),
             _q("§2", "subtracting the mean activity over the training set from each pixel"),
             _q("§4.1", "While training, the network saw random 224×224 patches of the 256×256 images and their "
                        "mirror images; at test time it averaged ten such patches.", quoted=False)]
    if size != 224:
        paper.append(_q("§3.5", f"The paper says 224×224, but conv1's arithmetic then gives "
                                f"(224 − {c1.kernel})/{c1.stride} + 1 = {paper_size:g} positions; "
                                f"{size}×{size} gives {rows['conv1'].output_shape[1]}, so {arch.name} takes "
                                f"{size}×{size}.", quoted=False))
    steps.append(Step(1, f"The photo becomes a {shape_text(in_shape)} input", (), None, in_shape, None,
                      words, tuple(paper), f"photo → resize to {prep.resize} → crop {shape_text(in_shape)}"))

    # 2. conv1
    r1 = rows["conv1"]
    side = r1.output_shape[1]
    words = (f"conv1 has {c1.out_channels} kernels, each a small {c1.kernel}×{c1.kernel}×{in_shape[0]} pattern "
             f"of weights. A kernel slides over the input {c1.stride} pixels at a time"
             + (f" (after a border of {c1.padding} zeros)" if c1.padding else "")
             + f"; at each of {side}×{side} positions it multiplies the "
             f"{c1.kernel * c1.kernel * in_shape[0]} numbers under it by its weights and adds them up, plus a "
             f"bias. Where the photo looks like the kernel — an edge at some angle, a patch of colour — the "
             f"number is large. One map of {side}×{side} per kernel: {shape_text(r1.output_shape)}.")
    if two:
        words += (f" The kernels are split over two GPUs, {halves('conv1')}: the paper's Figure 3 shows the two "
                  f"sets, learned separately.")
    paper = [_q("§3.5", "filters the 224×224×3 input image with 96 kernels of size 11×11×3 with a stride of 4 "
                        "pixels"),
             _q("Figure 3", "The top 48 kernels were learned on GPU 1 while the bottom 48 kernels were learned "
                            "on GPU 2.", towers=True),
             _q("§6.1", "One GPU's kernels came out largely colour-agnostic, the other's largely colour-specific, "
                        "in every run, modulo a renumbering of the GPUs.", quoted=False, towers=True)]
    steps.append(Step(2, f"conv1: {c1.out_channels} kernels of {c1.kernel}×{c1.kernel}, stride {c1.stride}",
                      stages[2], "conv1", r1.output_shape, "conv1", words, tuple(paper),
                      _trail(stages[2], rows, first_input=True)))

    # 3. ReLU + LRN + pooling
    pool = first(3, "maxpool")
    lrn = first(3, "lrn")
    pl = L(pool)
    before, after = rows[pool].input_shape[1], rows[pool].output_shape[1]
    overlap = pl.kernel > pl.stride
    words = "The **ReLU** keeps every positive number and sets every negative one to 0. "
    if lrn:
        words += (f"**Local response normalisation** divides each value by the activity of the "
                  f"{L(lrn).lrn.size} neighbouring channels at the same place, so a strong map dims its "
                  f"neighbours. ")
    words += (f"**Max-pooling** keeps the largest value of each {pl.kernel}×{pl.kernel} window, moving "
              f"{pl.stride} pixels at a time — the windows {'overlap' if overlap else 'do not overlap'} — so "
              f"the maps shrink from {before}×{before} to {after}×{after}: {shape_text(rows[pool].output_shape)}.")
    if not lrn:
        words += f" {arch.name} has no normalisation layer here (the paper's LRN is left out)."
    paper = [_q("§3.1", "Deep convolutional neural networks with ReLUs train several times faster than their "
                        "equivalents with tanh units.")]
    if lrn:
        paper.append(_q("§3.3", "implements a form of lateral inhibition"))
        paper.append(_q("§3.3", "Response normalization reduces our top-1 and top-5 error rates by 1.4% and 1.2%"))
    paper.append(_q("§3.4", "This scheme reduces the top-1 and top-5 error rates by 0.4% and 0.3%"))
    paper.append(_q("§3.4", "Against non-overlapping 2×2 windows at stride 2, which give maps of the same size.",
                    quoted=False))
    title = ("ReLU, normalisation and " if lrn else "ReLU and ") + ("overlapping pooling" if overlap else "pooling")
    steps.append(Step(3, title, stages[3], pool, rows[pool].output_shape, pool,
                      words, tuple(paper), _trail(stages[3], rows)))

    # 4. conv2
    c2 = L("conv2")
    r2 = rows["conv2"]
    cin = r2.input_shape[0]
    words = (f"conv2 has {c2.out_channels} kernels of {c2.kernel}×{c2.kernel}, padded by {c2.padding} so the "
             f"maps keep their {r2.output_shape[1]}×{r2.output_shape[2]} size: {shape_text(r2.output_shape)}. ")
    if c2.groups > 1 and two:
        words += (f"It is **grouped**: each GPU's {c2.out_channels // c2.groups} kernels read only that GPU's "
                  f"{cin // c2.groups} of the {cin} maps, so a kernel is {c2.kernel}×{c2.kernel}×"
                  f"{cin // c2.groups}, not ×{cin}. The two towers work side by side without talking. ")
    else:
        words += f"Each kernel reads all {cin} maps of the stage before: {c2.kernel}×{c2.kernel}×{cin} weights. "
    words += ("Its maps combine conv1's edges and colours into larger patterns. Then ReLU"
              + (", normalisation" if first(4, "lrn") else "") + " and pooling again.")
    paper = [_q("§3.5", "filters it with 256 kernels of size 5 × 5 × 48"),
             _q("§3.2", "the GPUs communicate only in certain layers", towers=True)]
    steps.append(Step(4, "conv2: each tower reads its own half" if two and c2.groups > 1 else
                      f"conv2: {c2.out_channels} kernels of {c2.kernel}×{c2.kernel}",
                      stages[4], "conv2", r2.output_shape, "conv2", words, tuple(paper), _trail(stages[4], rows)))

    # 5. conv3
    c3 = L("conv3")
    r3 = rows["conv3"]
    cin = r3.input_shape[0]
    words = (f"conv3 has {c3.out_channels} kernels of {c3.kernel}×{c3.kernel}×{cin // c3.groups}, padded by "
             f"{c3.padding}, so the maps stay {r3.output_shape[1]}×{r3.output_shape[2]}: "
             f"{shape_text(r3.output_shape)}. ")
    if two and c3.cross_tower:
        words += (f"**Here the towers talk**: every kernel, on either GPU, reads all {cin} maps of both GPUs — "
                  "the first time since the input that one GPU sees what the other found. ")
    words += "No pooling follows: the next layers keep the same grid."
    paper = [_q("§3.5", "The third convolutional layer has 384 kernels of size 3 × 3 × 256"),
             _q("§3.5", "The kernels of the third convolutional layer are connected to all kernel maps in the "
                        "second layer.", towers=True)]
    steps.append(Step(5, "conv3: the towers talk" if two and c3.cross_tower else
                      f"conv3: {c3.out_channels} kernels of {c3.kernel}×{c3.kernel}",
                      stages[5], "conv3", r3.output_shape, "conv3", words, tuple(paper), _trail(stages[5], rows)))

    # 6. conv4, conv5 and pool5
    c4, c5 = L("conv4"), L("conv5")
    end = last_map(6)
    re_ = rows[end]
    words = (f"Two more layers of {c4.kernel}×{c4.kernel} kernels — conv4 ({c4.out_channels}) and conv5 "
             f"({c5.out_channels}), each followed by a ReLU, with no pooling or normalisation between them. ")
    if two and c4.groups > 1:
        words += "Each GPU again reads only its own half (grouped, like conv2). "
    pool5 = first(6, "maxpool")
    if pool5:
        p5 = L(pool5)
        words += (f"Then max-pooling ({p5.kernel}×{p5.kernel}, stride {p5.stride}) shrinks "
                  f"{rows[pool5].input_shape[1]}×{rows[pool5].input_shape[1]} to "
                  f"{rows[pool5].output_shape[1]}×{rows[pool5].output_shape[1]}. ")
    avg = first(6, "adaptiveavgpool")
    if avg:
        words += (f"Adaptive average pooling makes the maps {L(avg).kernel}×{L(avg).kernel} whatever the input "
                  "size (the paper has no such layer). ")
    n = re_.output_shape[0] * re_.output_shape[1] * re_.output_shape[2]
    words += f"{shape_text(re_.output_shape)} = {n:,} numbers now describe the photo."
    paper = [_q("§3.5", "The third, fourth, and fifth convolutional layers are connected to one another without "
                        "any intervening pooling or normalization layers."),
             _q("§3.2", "kernels in layer 4 take input only from those kernel maps in layer 3 which reside on "
                        "the same GPU", towers=True)]
    steps.append(Step(6, f"conv4, conv5 and {end}", stages[6], end, re_.output_shape, end, words, tuple(paper),
                      _trail(stages[6], rows)))

    # 7. fc6 and fc7
    fc6, fc7 = L("fc6"), L("fc7")
    drop = first(7, "dropout")
    r7 = rows["fc7"]
    relu7 = next((n for n in stages[7] if L(n).kind == "relu" and arch.names().index(n) > arch.names().index("fc7")),
                 "fc7")
    words = (f"The {n:,} numbers are laid out in one long vector. Every one of fc6's {fc6.out_channels:,} units "
             f"reads all of them ({rows['fc6'].params:,} weights and biases); every one of fc7's "
             f"{fc7.out_channels:,} units reads all of fc6. A ReLU follows each. ")
    if two:
        words += f"Each GPU holds half the units ({halves('fc6')}), and each unit reads both GPUs. "
    if drop:
        words += (f"While training, **dropout** set each unit's output to zero with probability {L(drop).p:g} — a "
                  "different set every time — so no unit could rely on another; now, at test time, it does "
                  "nothing.")
    paper = [_q("§3.5", "The fully-connected layers have 4096 neurons each."),
             _q("§4.2", "do not contribute to the forward pass and do not participate in back-propagation"),
             _q("§4.2", "At test time, we use all the neurons but multiply their outputs by 0.5"),
             _q("§4.2", "PyTorch scales the kept outputs by 2 while training instead, which comes to the same.",
                quoted=False)]
    steps.append(Step(7, "fc6 and fc7" + (" (dropout at training time)" if drop else ""), stages[7], "fc7",
                      r7.output_shape, relu7, words, tuple(paper), _trail(stages[7], rows)))

    # 8. fc8 and softmax
    last = arch.layers[-1].name
    r8 = rows[last]
    words = (f"{last} gives one score per class: {r8.output_shape[0]:,} numbers. The **softmax** turns the scores "
             "into probabilities that add up to 1 (exp(score) / Σ exp(scores)): the larger a score, the larger "
             "its share. The **top-5** are the five most probable classes — the paper's main measure counts an "
             "answer right when the true class is among them.")
    paper = [_q("§3.5", "fed to a 1000-way softmax which produces a distribution over the 1000 class labels"),
             _q("Abstract", "top-1 and top-5 error rates of 37.5% and 17.0%"),
             _q("Abstract", "On the ILSVRC-2010 test set.", quoted=False)]
    steps.append(Step(8, f"{last} and softmax: the top-5", stages[8], last, r8.output_shape, None, words,
                      tuple(paper), _trail(stages[8], rows)))

    if not two:  # no words about GPUs for a one-tower variant
        steps = [Step(s.number, s.title, s.layers, s.shape_of, s.shape, s.maps, s.computes,
                      tuple(q for q in s.paper if not q.towers), s.trail) for s in steps]
    return tuple(steps)


def clamp_step(value: object) -> tuple[int, str | None]:
    """The step a link asks for (``?step=3``), as 1..8; or the nearest one, with a sentence why."""
    try:
        n = int(str(value).strip())
    except (TypeError, ValueError):
        return 1, f"The link's step “{value}” is not a number from 1 to {STEPS}, so the lesson starts at step 1."
    if 1 <= n <= STEPS:
        return n, None
    near = min(max(n, 1), STEPS)
    return near, f"The lesson has steps 1 to {STEPS}; the link asks for {n}, so this is step {near}."
