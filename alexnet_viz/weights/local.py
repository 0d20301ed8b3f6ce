"""A weight file a person names -> a checked state dict: sniffed as torch or Caffe, converted."""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import torch

from .caffe import caffe_to_state_dict, parse_caffemodel, read_caffe_state_dict, refuse_caffenet
from .errors import WeightsError
from .files import load_torch_file, looks_like_torch, open_weight_file, read_bounded, save_state_dict
from .shapes import check_state_dict


def state_dict_from_path(path: str | os.PathLike, model: str) -> dict[str, torch.Tensor]:
    """A weight file a user gave -> ``model``'s state dict, checked against the network.

    The path is checked before it is opened (``open_weight_file``). ``.caffemodel`` files
    (bvlc_alexnet-shaped, for alexnet2012) are converted on the fly; any other file must be a
    torch state dict saved for ``model``.
    """
    p = Path(path).expanduser()
    with open_weight_file(p) as f:
        try:
            head = f.read(4)
            f.seek(0)
        except OSError as exc:
            raise WeightsError(f"{p} could not be read: {exc.strerror or exc}.") from None
        if looks_like_torch(head):
            state = load_torch_file(p, f)
        else:
            state = _caffe_state(p, f, model)
    check_state_dict(state, model, p.name)
    return state


def _caffe_state(p: Path, f: BinaryIO, model: str) -> dict[str, torch.Tensor]:
    is_caffe_name = p.suffix.lower() == ".caffemodel"
    try:
        blobs, names = parse_caffemodel(read_bounded(f, p), p)
    except WeightsError:
        if is_caffe_name:
            raise
        raise WeightsError(f"{p} is neither a saved PyTorch state dict nor a Caffe caffemodel.") from None
    if model != "alexnet2012":
        raise WeightsError(
            f"{p.name} is a Caffe caffemodel; caffemodels load into the alexnet2012 model "
            f"(Caffe's bvlc_alexnet), not {model}: choose the alexnet2012 model.")
    refuse_caffenet(names, p.name)
    return caffe_to_state_dict(blobs, model, source=p.name)


def convert_caffemodel(src: str | os.PathLike, dst: str | os.PathLike, model: str = "alexnet2012") -> Path:
    """Convert a bvlc_alexnet-shaped caffemodel into a torch state dict file (BGR -> RGB)."""
    dst = Path(dst).expanduser()
    if dst.is_dir():
        dst = dst / (Path(src).stem + ".pt")
    state = read_caffe_state_dict(src, model)
    check_state_dict(state, model, Path(src).name)
    try:
        return save_state_dict(state, dst)
    except OSError as exc:  # name the file the person chose, not our temp file beside it
        raise WeightsError(f"Could not write {dst} ({exc.strerror or exc}): choose a file in a folder "
                           f"you can write to, with room for about 233 MB.") from None
