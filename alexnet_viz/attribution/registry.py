"""The attribution registry's vocabulary: a method's parameters (``Param``) and its description (``Method``)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn


@dataclass(frozen=True)
class Param:
    """One parameter of a method: what a page needs to draw its widget and check a value."""

    name: str
    kind: str  # "int", "float" or "choice"
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""
    when: tuple[str, Any] | None = None  # acts only while another parameter has this value

    def check(self, value: Any, method: str) -> Any:
        """The value converted to this parameter's type, or ValueError with a sentence."""
        where = f"{method}'s {self.name}"
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{where} must be one of {', '.join(self.choices)}; got {value!r}.")
            return value
        try:  # text from a command line is welcome too
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{where} must be a number; got {value!r}.") from None
        if self.kind == "int":
            if not number.is_integer():
                raise ValueError(f"{where} must be a whole number; got {value!r}.")
            number = int(number)
        if not math.isfinite(number) or (self.low is not None and number < self.low) or (
                self.high is not None and number > self.high):
            raise ValueError(f"{where} must be between {self.low:g} and {self.high:g}; got {value!r}.")
        return number


# run(objective, x, params, layer) -> {"raw": (1, C, H, W) tensor, **Explanation extras}
Runner = Callable[["_Objective", torch.Tensor, dict, "nn.Module | None"], dict]
# count(params, (rows, columns)) -> forward evaluations; check(params, size) raises ValueError
Counter = Callable[[dict, tuple[int, int]], int]
Checker = Callable[[dict, tuple[int, int]], None]


def _one_pass(params: dict, size: tuple[int, int]) -> int:
    return 1


def _no_check(params: dict, size: tuple[int, int]) -> None:
    return None


@dataclass(frozen=True)
class Method:
    """One attribution method: everything a page lists about it, how it runs, what it costs.

    Adding a method is one file beside this one and one entry in ``ATTRIBUTION_METHODS``: its ``run``, its ``count`` of
    forward evaluations (for progress bars and cost lines) and any ``check`` of its parameters
    against the input's size live here, with the method.
    """

    name: str
    title: str
    description: str
    params: tuple[Param, ...] = ()
    cost: str = "1 forward + 1 backward pass"
    uses_hooks: bool = False  # Captum attaches module hooks while it runs (contained by a copy)
    sign: str = "absolute"  # the display sign mode that suits it best (see heatmaps.SIGN_MODES)
    reference: str = ""
    # What its numbers measure. Maps share a colour scale meaningfully only with the same units;
    # "" means its own units, comparable with no other method's.
    units: str = ""
    run: Runner = field(kw_only=True, repr=False, compare=False)
    count: Counter = field(default=_one_pass, kw_only=True, repr=False, compare=False)
    check: Checker = field(default=_no_check, kw_only=True, repr=False, compare=False)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def passes(self, size: tuple[int, int] = (227, 227), **params: Any) -> int:
        """How many forward evaluations the method makes on a ``size`` input (batched where it
        makes many: see its ``cost``), with ``params`` over its defaults."""
        return self.count(self.resolve(params), size)

    def resolve(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overridden by ``params``, each checked; an unknown name is a ValueError."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(params) - set(known))
        if unknown:
            takes = f"it takes {', '.join(known)}" if known else "it takes no parameters"
            raise ValueError(f"{self.name} has no parameter {', '.join(unknown)}; {takes}.")
        return {name: p.check(params.get(name, p.default), self.name) for name, p in known.items()}
