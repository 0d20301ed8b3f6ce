"""Reading (and writing) Caffe ``.caffemodel`` files with the protobuf runtime, no Caffe install.

A caffemodel is a protobuf ``NetParameter``. Only the few fields that carry weights are declared
here, with Caffe's field numbers (``src/caffe/proto/caffe.proto``); the runtime skips every other
field. Two layouts exist and both are read:

- V1 (Caffe 2014, bvlc_alexnet.caffemodel): ``layers`` = 2 of ``V1LayerParameter`` (name 4,
  type 5 as an enum, blobs 6), blob sizes in the legacy ``num/channels/height/width`` fields.
- V2: ``layer`` = 100 of ``LayerParameter`` (name 1, type 2 as a string, blobs 7), blob sizes
  in ``shape`` (``BlobShape``).

``caffe_to_state_dict`` turns bvlc_alexnet's blobs into the ``alexnet2012`` state dict.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from ..architecture import Architecture, get_architecture
from .errors import WeightsError
from .files import open_weight_file, read_bounded

_F = descriptor_pb2.FieldDescriptorProto

# V1LayerParameter.LayerType values for the layers a writer may need (caffe.proto).
V1_TYPES = {"Convolution": 4, "InnerProduct": 14, "LRN": 15, "Pooling": 17, "ReLU": 18,
            "Dropout": 6, "Softmax": 20}


def _build_messages() -> dict[str, type]:
    """The five message classes, declared with Caffe's field numbers in a private pool."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="alexnet_viz_caffe_subset.proto", package="alexnet_viz_caffe", syntax="proto2")

    def message(name: str, fields: list[tuple]) -> None:
        m = fdp.message_type.add(name=name)
        for fname, number, ftype, label, *rest in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if rest and rest[0] == "packed":
                f.options.packed = True  # as caffe.proto declares its numeric arrays
            elif rest:
                f.type_name = ".alexnet_viz_caffe." + rest[0]

    opt, rep = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    message("BlobShape", [("dim", 1, _F.TYPE_INT64, rep, "packed")])
    message("BlobProto", [
        ("num", 1, _F.TYPE_INT32, opt), ("channels", 2, _F.TYPE_INT32, opt),
        ("height", 3, _F.TYPE_INT32, opt), ("width", 4, _F.TYPE_INT32, opt),
        ("data", 5, _F.TYPE_FLOAT, rep, "packed"),
        ("shape", 7, _F.TYPE_MESSAGE, opt, "BlobShape"),
        ("double_data", 8, _F.TYPE_DOUBLE, rep, "packed"),
    ])
    message("LayerParameter", [
        ("name", 1, _F.TYPE_STRING, opt), ("type", 2, _F.TYPE_STRING, opt),
        ("blobs", 7, _F.TYPE_MESSAGE, rep, "BlobProto"),
    ])
    # type is an enum in caffe.proto; an int32 has the same wire format and keeps unknown values.
    message("V1LayerParameter", [
        ("name", 4, _F.TYPE_STRING, opt), ("type", 5, _F.TYPE_INT32, opt),
        ("blobs", 6, _F.TYPE_MESSAGE, rep, "BlobProto"),
    ])
    message("NetParameter", [
        ("name", 1, _F.TYPE_STRING, opt),
        ("layers", 2, _F.TYPE_MESSAGE, rep, "V1LayerParameter"),
        ("layer", 100, _F.TYPE_MESSAGE, rep, "LayerParameter"),
    ])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {m.name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"alexnet_viz_caffe.{m.name}"))
            for m in fdp.message_type}


_MESSAGES = _build_messages()
NetParameter = _MESSAGES["NetParameter"]


def _blob_array(blob, where: str) -> np.ndarray:
    """One BlobProto -> a float32 array of its declared shape."""
    if blob.HasField("shape"):
        dims = tuple(int(d) for d in blob.shape.dim)
    else:  # legacy 4-d dims; Caffe's defaults are 0 when absent
        dims = (blob.num, blob.channels, blob.height, blob.width)
    values = blob.data if len(blob.data) else blob.double_data
    data = np.array(values, dtype=np.float32)
    if len(dims) == 0 or any(d < 0 for d in dims) or int(np.prod(dims)) != data.size:
        raise WeightsError(
            f"{where} is damaged: it declares shape {dims} ({int(np.prod(dims)) if dims else 0} values) "
            f"but holds {data.size} values.")
    return data.reshape(dims)


def read_caffemodel(path: str | os.PathLike) -> dict[str, list[np.ndarray]]:
    """Every layer that has weights, by name: ``{"conv1": [weight, bias], ...}``, in file order.

    Arrays keep the file's shapes (legacy files give 4-d shapes even for fc layers, e.g.
    fc6 (1, 1, 4096, 9216)). Raises WeightsError for a missing, unreadable or non-caffemodel file.
    """
    return read_caffemodel_layers(path)[0]


def read_caffemodel_layers(path: str | os.PathLike) -> tuple[dict[str, list[np.ndarray]], list[str]]:
    """``read_caffemodel``'s arrays, and the names of all the file's layers in order (those
    without weights too: Caffe saves the whole net, relu, pooling and LRN layers included)."""
    path = Path(path).expanduser()
    with open_weight_file(path) as f:  # regular files under the cap only, checked before opening
        try:
            data = read_bounded(f, path)
        except OSError as exc:
            raise WeightsError(f"{path} could not be read: {exc.strerror or exc}.") from None
    return parse_caffemodel(data, path)


def parse_caffemodel(data: bytes, path: str | os.PathLike) -> tuple[dict[str, list[np.ndarray]], list[str]]:
    """``read_caffemodel_layers`` for a file already read; ``path`` only names it in sentences."""
    path = Path(path)
    net = NetParameter()
    try:
        net.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise WeightsError(f"{path} is not a caffemodel (it is not a Caffe NetParameter protobuf).") from None
    del data
    out: dict[str, list[np.ndarray]] = {}
    for layer in list(net.layer) + list(net.layers):  # V2 first; a file normally has one kind
        if not layer.blobs:
            continue
        name = layer.name or f"layer {len(out) + 1}"
        out[name] = [_blob_array(b, f"{path.name}: layer {name!r}, blob {i}") for i, b in enumerate(layer.blobs)]
    if not out:
        raise WeightsError(f"{path} is not a caffemodel: it holds no layers with weights.")
    return out, [layer.name for layer in list(net.layer) + list(net.layers)]


def refuse_caffenet(layer_names: list[str], source: str) -> None:
    """CaffeNet (bvlc_reference_caffenet) has bvlc_alexnet's layer names and weight shapes but
    pools before it normalises: its weights would load without a complaint into the wrong
    network. The order of its weightless layers gives it away."""
    if "pool1" in layer_names and "norm1" in layer_names and layer_names.index("pool1") < layer_names.index("norm1"):
        raise WeightsError(
            f"{source} looks like CaffeNet (bvlc_reference_caffenet: pooling before normalisation), not "
            f"bvlc_alexnet: its weights fit the shapes of alexnet2012 but were trained in another layer "
            f"order, so they are refused; use bvlc_alexnet.caffemodel.")


def write_caffemodel(path: str | os.PathLike, blobs: dict[str, list[np.ndarray]], layout: str = "v1",
                     types: dict[str, str] | None = None, name: str = "AlexNet") -> None:
    """Write ``{layer: [arrays]}`` as a caffemodel, in the V1 layout (legacy 4-d dims, as Caffe
    wrote in 2014) or V2 (``layer`` + ``BlobShape``). ``types`` gives Caffe layer types
    (default: 4-d weights are Convolution, the rest InnerProduct)."""
    if layout not in ("v1", "v2"):
        raise ValueError(f"layout must be 'v1' or 'v2', not {layout!r}")
    net = NetParameter(name=name)
    for lname, arrays in blobs.items():
        ltype = (types or {}).get(lname) or ("Convolution" if arrays[0].ndim == 4 else "InnerProduct")
        if layout == "v1":
            layer = net.layers.add(name=lname, type=V1_TYPES[ltype])
        else:
            layer = net.layer.add(name=lname, type=ltype)
        for arr in arrays:
            arr = np.ascontiguousarray(arr, dtype="<f4")
            blob = layer.blobs.add()
            if layout == "v1":
                dims = (1,) * (4 - arr.ndim) + arr.shape  # fc6 (4096, 9216) -> (1, 1, 4096, 9216)
                blob.num, blob.channels, blob.height, blob.width = dims
            else:
                blob.shape.dim.extend(arr.shape)
            # Filling a repeated float field value by value takes seconds for fc6's 37.7 M floats;
            # merging the packed field's wire bytes (tag 5, length-delimited) is the same result.
            payload = arr.tobytes()
            blob.MergeFromString(bytes([5 << 3 | 2]) + _varint(len(payload)) + payload)
    tmp = Path(f"{path}.part")
    tmp.write_bytes(net.SerializeToString())
    os.replace(tmp, path)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def caffe_to_state_dict(blobs: dict[str, list[np.ndarray]], model: str = "alexnet2012",
                        source: str = "the caffemodel") -> dict[str, torch.Tensor]:
    """bvlc_alexnet's blobs -> the ``alexnet2012`` state dict (``conv1.weight``, ...).

    Legacy 4-d dims are reshaped (fc6 (1, 1, 4096, 9216) -> (4096, 9216)), and conv1's input
    channels are swapped from Caffe's BGR to RGB, so the network takes RGB input and conv1's
    kernels display in true colour. Every shape is checked against the network.
    """
    from .shapes import expected_shapes

    arch: Architecture = get_architecture(model)
    shapes = expected_shapes(model)
    state: dict[str, torch.Tensor] = {}
    for layer in arch.layers:
        if layer.kind not in ("conv", "linear"):
            continue
        if layer.name not in blobs:
            have = ", ".join(blobs) or "none"
            raise WeightsError(
                f"{source} has no layer named {layer.name!r} with weights (it has: {have}); "
                f"{model} takes a bvlc_alexnet-shaped caffemodel (conv1…conv5, fc6…fc8).")
        arrays = blobs[layer.name]
        if len(arrays) != 2:
            raise WeightsError(f"{source}: layer {layer.name!r} has {len(arrays)} blobs; "
                               f"{model} needs two (weights and biases).")
        for kind, arr in zip(("weight", "bias"), arrays):
            key = f"{layer.module}.{kind}"
            want = shapes[key]
            while arr.ndim > len(want) and arr.shape[0] == 1:
                arr = arr.reshape(arr.shape[1:])  # legacy dims: (1, 1, 1, N) -> (N,)
            if tuple(arr.shape) != want:
                raise WeightsError(
                    f"{source}: layer {layer.name!r} has {kind}s of shape {tuple(arr.shape)}, "
                    f"but {model} needs {want}; this is not bvlc_alexnet's layout.")
            state[key] = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    first = f"{arch.layers[0].module}.weight"
    state[first] = state[first].flip(1).contiguous()  # (96, 3, 11, 11): BGR -> RGB input channels
    return state


def read_caffe_state_dict(path: str | os.PathLike, model: str = "alexnet2012") -> dict[str, torch.Tensor]:
    """A bvlc_alexnet-shaped caffemodel on disk -> the ``model`` state dict, checked."""
    blobs, names = read_caffemodel_layers(path)
    refuse_caffenet(names, str(path))
    return caffe_to_state_dict(blobs, model, source=str(path))
