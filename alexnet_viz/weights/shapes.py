"""What a state dict must hold for each variant, and the sentence when it does not."""
from __future__ import annotations

from functools import lru_cache

import torch

from ..architecture import ARCHITECTURES, get_architecture
from ..body import build_body
from .errors import WeightsError


@lru_cache(maxsize=None)
def expected_shapes(model: str) -> dict[str, tuple[int, ...]]:
    """Every state-dict entry of ``model`` and its shape (built on the meta device: no memory)."""
    with torch.device("meta"):
        body = build_body(get_architecture(model))
    return {k: tuple(v.shape) for k, v in body.state_dict().items()}


_LOOKS_LIKE = {
    "alexnet2012": "the 2012 two-tower AlexNet (conv1 has 96 kernels, conv2 reads 48 channels per group)",
    "torchvision": "torchvision's single-tower AlexNet (conv1 has 64 kernels)",
    "keras-tutorial": "the Keras-tutorial AlexNet (BatchNorm layers, 17 classes)",
}


def check_state_dict(state: dict[str, torch.Tensor], model: str, source_name: str) -> None:
    """Raise a WeightsError that names the problem unless ``state`` fits ``model`` exactly."""
    want = expected_shapes(model)
    got = {k: tuple(v.shape) for k, v in state.items()}
    if got == want:
        return
    for other in ARCHITECTURES:
        if other != model and got == expected_shapes(other):
            raise WeightsError(
                f"{source_name} holds weights for a different network: this looks like "
                f"{_LOOKS_LIKE.get(other, other)}; choose the {other} model.")
    problems = [f"{k} has shape {got[k]} but {model} needs {want[k]}" for k in want if k in got and got[k] != want[k]]
    missing = [k for k in want if k not in got]
    extra = [k for k in got if k not in want]
    if missing:
        problems.append(f"missing {', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}")
    if extra:
        problems.append(f"unexpected {', '.join(extra[:4])}{' …' if len(extra) > 4 else ''}")
    raise WeightsError(f"{source_name} does not fit {model}: {'; '.join(problems[:4])}.")
