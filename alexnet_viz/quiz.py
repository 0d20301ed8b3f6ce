"""Shape quizzes: questions about a layer's shapes, and answers checked against the walkthrough.

A question about one layer of a variant at an input size, a lenient reading of what a student
types, and the check against the walkthrough.

Every answer comes from :func:`walkthrough.walkthrough`, so a quiz is right for any variant and
any input size the network runs at; :func:`runnable_sizes` lists those sizes.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from .architecture import Architecture, Layer, get_architecture
from .walkthrough import WalkRow, param_formula, walkthrough

# What a question may ask about, per kind of layer.
ASKABLE = {"shape": ("conv", "maxpool", "adaptiveavgpool", "flatten", "linear"),
           "params": ("conv", "linear")}


class AnswerError(ValueError):
    """What the student typed cannot be read as a shape or a count; the message says how to write one."""


_GROUPED = re.compile(r"^\d{1,3}(?P<sep>[,_'.\s])\d{3}(?:(?P=sep)\d{3})*$")  # 37,752,832 or 37 752 832


def _squash_spaces(text: str) -> str:
    return re.sub(r"[\u00a0\u202f\u2009]", " ", text).strip()


def parse_count(text: str) -> int:
    """A whole number as a person writes it: "37752832", "37,752,832", "37 752 832", "37_752_832",
    "3.7752832e7". Rounded answers ("37.8M") are refused with a sentence, not guessed at."""
    t = _squash_spaces(text)
    if not t:
        raise AnswerError("Type a number, for example 34,944.")
    if re.fullmatch(r"\d+", t):
        return int(t)
    if _GROUPED.match(t):
        return int(re.sub(r"\D", "", t))
    if re.fullmatch(r"\d+(\.\d+)?[eE][+]?\d+", t):
        try:
            value = Decimal(t)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            value = None
        if value is not None and value == value.to_integral_value():
            return int(value)
    if re.search(r"\d", t) and re.search(r"(?i)[km]\b|million|thousand|\d\.\d", t):
        raise AnswerError(f"“{text.strip()}” is rounded: give the exact count, every digit (e.g. 37,752,832).")
    raise AnswerError(f"“{text.strip()}” is not a whole number I can read: type digits, "
                      "for example 37,752,832 or 37752832.")


def parse_shape(text: str) -> tuple[int, ...]:
    """A shape as a person writes it: "256x13x13", "256 × 13 × 13", "(256, 13, 13)", "[256,13,13]",
    "torch.Size([1, 256, 13, 13])", "4096", "4,096" or "(4096,)"."""
    t = _squash_spaces(text)
    t = re.sub(r"(?i)^torch\.size", "", t).strip()
    if not t:
        raise AnswerError("Type a shape, for example 96×55×55.")
    if _GROUPED.match(t) and "," in t or re.fullmatch(r"\d+", t):  # one number: "4096" or "4,096"
        return (int(re.sub(r"\D", "", t)),)
    inner = re.sub(r"[()\[\]{}]", " ", t)
    tokens = [tok for tok in re.split(r"(?i)\s*(?:[x×*,;]|by)\s*|\s+", inner) if tok]
    if not tokens or not all(re.fullmatch(r"\d+", tok) for tok in tokens):
        raise AnswerError(f"“{text.strip()}” is not a shape I can read: write the sizes with × or x "
                          "between them, for example 256×13×13 or (256, 13, 13).")
    return tuple(int(tok) for tok in tokens)


def shape_words(shape: tuple[int, ...]) -> str:
    """(256, 13, 13) -> "256 × 13 × 13"."""
    return " × ".join(map(str, shape))


def runnable_sizes(model: str | Architecture, lo: int = 32, hi: int = 512) -> list[int]:
    """The input sides in lo..hi at which the whole network runs (its last layer has a shape)."""
    arch = get_architecture(model) if isinstance(model, str) else model
    return [s for s in range(lo, hi + 1) if walkthrough(arch, s)[-1].output_shape is not None]


@dataclass(frozen=True)
class Question:
    """One question: the output shape, or the parameter count, of one layer."""

    model: str
    size: int
    layer: str
    kind: str  # "shape" or "params"
    answer: tuple[int, ...] | int
    hint: str  # the rule and this layer's numbers, without the answer
    formula: str  # the answer worked out, numbers filled in

    @property
    def text(self) -> str:
        if self.kind == "shape":
            return (f"What is the output shape of {self.layer} in {self.model} when the input is "
                    f"{self.size}×{self.size}?")
        return f"How many parameters (weights and biases) does {self.layer} of {self.model} have?"

    @property
    def answer_text(self) -> str:
        return shape_words(self.answer) if self.kind == "shape" else f"{self.answer:,}"


@dataclass(frozen=True)
class Verdict:
    right: bool
    message: str


def _shape_hint(row: WalkRow, layer: Layer) -> str:
    inp = shape_words(row.input_shape)
    if row.kind in ("conv", "maxpool"):
        rule = "output side = (input side − kernel + 2·padding) / stride + 1"
        rounding = "rounded up, as Caffe does" if layer.ceil_mode else "rounded down"
        what = (f"{layer.out_channels} kernels, so {layer.out_channels} output channels" if row.kind == "conv"
                else "pooling keeps the number of channels")
        return (f"{rule} ({rounding} when it is not whole). {row.name} reads {inp}; its window is "
                f"{layer.kernel}×{layer.kernel}, stride {layer.stride}, padding {layer.padding}; {what}.")
    if row.kind == "adaptiveavgpool":
        return (f"Adaptive pooling always gives {layer.kernel}×{layer.kernel} maps, whatever it reads; "
                f"it keeps the channels. {row.name} reads {inp}.")
    if row.kind == "flatten":
        return f"Flattening lays every value out in one vector: multiply the sizes of {inp}."
    return (f"A fully connected layer gives one value per unit: {row.name} has {layer.out_channels} units "
            f"(it reads {inp} values).")


def _params_hint(row: WalkRow, layer: Layer) -> str:
    if row.kind == "conv":
        groups = (f", in {layer.groups} groups: each kernel reads only its group's "
                  f"{row.input_shape[0] // layer.groups} channels" if layer.groups > 1 else "")
        return (f"parameters = kernels × (input channels per kernel × kernel × kernel) + one bias per kernel. "
                f"{row.name} has {layer.out_channels} kernels of {layer.kernel}×{layer.kernel} and reads "
                f"{row.input_shape[0]} channels{groups}.")
    return (f"parameters = inputs × units + one bias per unit. {row.name} reads {row.input_shape[0]} values "
            f"and has {layer.out_channels} units.")


def _shape_formula(row: WalkRow, layer: Layer) -> str:
    out = shape_words(row.output_shape)
    if row.kind in ("conv", "maxpool", "adaptiveavgpool"):
        return f"side: {row.formula}; {row.output_shape[0]} channels → {out}"
    if row.kind == "flatten":
        return row.formula
    return f"{layer.out_channels} units → {out}"


def make_question(model: str | Architecture, size: int, seed: int) -> Question:
    """A question about a random layer (the same one for the same seed) of ``model`` at ``size``.

    A ValueError with the walkthrough's sentence where the network cannot run at that size.
    """
    arch = get_architecture(model) if isinstance(model, str) else model
    rows = walkthrough(arch, size)
    if rows[-1].output_shape is None:
        raise ValueError(rows[-1].problem or f"{arch.name} cannot run at {size}×{size}.")
    rng = random.Random(seed)
    kind = rng.choice(list(ASKABLE))
    row, layer = rng.choice([(r, lay) for r, lay in zip(rows, arch.layers) if r.kind in ASKABLE[kind]])
    if kind == "shape":
        return Question(arch.name, size, row.name, kind, row.output_shape, _shape_hint(row, layer),
                        _shape_formula(row, layer))
    return Question(arch.name, size, row.name, kind, row.params, _params_hint(row, layer),
                    param_formula(row, layer))


def next_seed(model: str | Architecture, size: int, seed: int, limit: int = 1000) -> int:
    """The first seed after ``seed`` whose question is not ``seed``'s: "New question" never asks
    the question just asked again (a layer and kind can come up twice in a row by chance)."""
    now = make_question(model, size, seed)
    for later in range(seed + 1, seed + 1 + limit):
        q = make_question(model, size, later)
        if (q.layer, q.kind) != (now.layer, now.kind):
            return later
    return seed + 1  # a network with one askable question: nothing else to ask


def check(question: Question, typed: str) -> Verdict:
    """Whether ``typed`` answers ``question``, with a sentence; AnswerError where it cannot be read."""
    if question.kind == "params":
        n = parse_count(typed)
        if n == question.answer:
            return Verdict(True, f"Right: {question.layer} has {n:,} parameters.")
        out = question.answer - n
        arch = get_architecture(question.model)
        layer = arch.layer(question.layer)
        if out == layer.out_channels:
            return Verdict(False, "That is the weights alone: add one bias per kernel or unit.")
        if layer.groups > 1 and n - layer.out_channels == (question.answer - layer.out_channels) * layer.groups:
            return Verdict(False, f"That counts every input channel, but {question.layer} is grouped: "
                                  "each kernel reads only its own group's channels.")
        return Verdict(False, f"Not {n:,}. Try again, or take the hint.")
    shape = parse_shape(typed)
    want = question.answer
    if shape == want:
        return Verdict(True, f"Right: {question.layer} gives {shape_words(want)}.")
    if len(shape) == len(want) + 1 and shape[0] == 1 and shape[1:] == want:
        return Verdict(True, f"Right: {shape_words(want)} (you wrote the batch dimension of 1 in front; "
                             "the walkthrough leaves it out).")
    if len(want) == 3 and shape == (want[1], want[2], want[0]):
        return Verdict(True, f"Right, in channels-last order (as Keras writes it); this app writes channels "
                             f"first: {shape_words(want)}.")
    if len(shape) != len(want):
        return Verdict(False, f"{question.layer}'s output has {len(want)} "
                              f"dimension{'s' if len(want) > 1 else ''}, not {len(shape)}.")
    if len(want) == 3 and shape[0] == want[0]:
        return Verdict(False, "The channels are right; the side is not. Try again, or take the hint.")
    if len(want) == 3 and shape[1:] == want[1:]:
        return Verdict(False, "The side is right; the number of channels is not. Try again, or take the hint.")
    return Verdict(False, f"Not {shape_words(shape)}. Try again, or take the hint.")
