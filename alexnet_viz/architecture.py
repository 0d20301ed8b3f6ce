"""The layer tables: one per network variant, the single source of truth.

Everything else (the nn.Module, the walkthrough, the app's diagram, the comparison table) is
derived from these tables. ``tests/test_architecture.py`` checks them against real tensors.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

TOWERS = ("GPU 1", "GPU 2")  # the paper's two GPUs, as alexnet2012 names its towers
WHOLE = "all"  # the one tower of a layer that is not split (every layer of a one-tower variant)


@dataclass(frozen=True)
class LRNSpec:
    """Local response normalisation in PyTorch's (and Caffe's) convention: alpha is divided by size."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0


# Caffe's bvlc_alexnet, and torch.nn.LocalResponseNorm's convention.
CAFFE_LRN = LRNSpec(size=5, alpha=1e-4, beta=0.75, k=1.0)
# The paper's §3.3 as printed: b = a / (2 + 1e-4 * sum a^2)^0.75; torch divides alpha by n, hence 5e-4.
# (The lab's lrn="paper"; its "k2" is CAFFE_LRN with k = 2, still 2e-5 per term.)
PAPER_LRN = LRNSpec(size=5, alpha=5e-4, beta=0.75, k=2.0)


@dataclass(frozen=True)
class Layer:
    """One row of a network table.

    kind is one of: conv, relu, lrn, maxpool, adaptiveavgpool, batchnorm, flatten, dropout,
    linear, softmax. ``module`` is the attribute path of the layer inside the built nn.Module
    (``None`` for functional steps such as flatten). ``towers`` is how many GPU towers the
    layer's output channels are split over (1 or 2); ``cross_tower`` says the layer reads the
    channels of both towers (the paper's conv3, fc6, fc7, fc8).
    """

    name: str
    kind: str
    module: str | None = None
    out_channels: int | None = None  # conv/linear/batchnorm width
    kernel: int | None = None
    stride: int = 1
    padding: int = 0
    groups: int = 1
    towers: int = 1
    cross_tower: bool = False
    ceil_mode: bool = False  # pooling rounds output sizes up (Caffe) instead of down (PyTorch)
    lrn: LRNSpec | None = None
    p: float | None = None  # dropout probability
    inplace: bool = False  # as the source defines it; always built out of place (see network._make)
    note: str = ""


@dataclass(frozen=True)
class Tower:
    """One GPU tower of a layer: its name and the output channels it holds."""

    name: str
    channels: range


@dataclass(frozen=True)
class Architecture:
    """One network variant: its layers in forward order, the input it was designed for, its source."""

    name: str
    title: str
    input_size: int  # the side the variant was designed for
    in_channels: int
    num_classes: int
    layers: tuple[Layer, ...]
    source: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    tower_names: tuple[str, ...] = ()  # what the split layers' towers are called, in channel order

    def __post_init__(self):
        split = max(layer.towers for layer in self.layers)
        if split > 1 and len(self.tower_names) < split:
            raise ValueError(f"{self.name} splits layers over {split} towers but names {len(self.tower_names)}.")

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"{self.name} has no layer named {name!r}; it has {', '.join(self.names())}.")

    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def towers(self, layer: str) -> tuple[Tower, ...]:
        """The GPU towers of ``layer``'s output channels, in channel order, each with its channels.

        alexnet2012's conv1 gives (Tower("GPU 1", range(0, 48)), Tower("GPU 2", range(48, 96)));
        a layer that is not split (fc8, every layer of torchvision and keras-tutorial) gives one
        tower named ``WHOLE`` holding all its channels. relu, norm, pool and dropout rows carry
        the split of the conv or fc row before them (norm1 and pool1: conv1's 48 + 48). Worked
        out once per variant from the table alone.
        """
        found = self._towers.get(self.layer(layer).name)
        if found is None:
            raise ValueError(f"{layer} is the flattened maps, one long vector, not channels: ask about the "
                             "layer before it or the fc layer after it.")
        return found

    def tower_of(self, layer: str, channel: int) -> str:
        """The name of the tower that holds channel ``channel`` of ``layer``'s output (``WHOLE``
        where the layer is not split); a ValueError for a channel the layer does not have."""
        towers = self.towers(layer)
        for tower in towers:
            if channel in tower.channels:
                return tower.name
        raise ValueError(f"{layer} has channels 0 to {towers[-1].channels.stop - 1}; there is no channel {channel}.")

    @cached_property
    def _towers(self) -> dict[str, tuple[Tower, ...] | None]:
        """Every row's towers (None from flatten to the next fc row, whose width the table
        does not give): the width and split of the last conv, fc or BatchNorm row."""
        out: dict[str, tuple[Tower, ...] | None] = {}
        width, split = self.in_channels, 1
        for layer in self.layers:
            if layer.kind == "flatten":
                width = None
            if layer.out_channels is not None:
                width = layer.out_channels
                if layer.kind in ("conv", "linear"):
                    split = layer.towers
            if width is None:
                out[layer.name] = None
            elif split == 1:
                out[layer.name] = (Tower(WHOLE, range(width)),)
            else:
                step = width // split
                out[layer.name] = tuple(Tower(name, range(i * step, (i + 1) * step))
                                        for i, name in enumerate(self.tower_names[:split]))
        return out

    def input_channels(self, layer: str, out_channel: int) -> range:
        """Which channels of the previous row output channel ``out_channel`` of a conv reads.

        From the table's groups: with g groups, output channel o belongs to group o // (out/g)
        and reads that group's slice of the input channels. conv2 channel 200 of alexnet2012
        reads conv1's 48–95; conv3 (one group) reads all 256.
        """
        row = self.layer(layer)
        if row.kind != "conv":
            raise ValueError(f"{row.name} is a {row.kind} layer; only conv layers have kernels per input channel.")
        if not 0 <= out_channel < row.out_channels:
            raise ValueError(f"{row.name} has output channels 0–{row.out_channels - 1}, not {out_channel}.")
        i = self.layers.index(row)
        cin = self.in_channels if i == 0 else self.towers(self.layers[i - 1].name)[-1].channels.stop
        group = out_channel // (row.out_channels // row.groups)
        per = cin // row.groups
        return range(group * per, (group + 1) * per)

    def conv_layers(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.kind == "conv"]


def _alexnet2012() -> Architecture:
    L = Layer
    g1, g2 = 1, 2  # groups
    layers = (
        L("conv1", "conv", "conv1", 96, 11, 4, 0, g1, towers=2,
          note="96 kernels of 11×11×3 at stride 4, 48 on each GPU; the paper's Figure 3."),
        L("relu1", "relu", "relu1", note="ReLU after every conv and fc layer: trains several times faster than tanh."),
        L("norm1", "lrn", "norm1", lrn=CAFFE_LRN,
          note="Local response normalisation across 5 adjacent channels (Caffe: k=1; the paper: k=2). "
               "Caffe's window runs across all 96 channels, so channels 46–49 mix the two towers."),
        L("pool1", "maxpool", "pool1", kernel=3, stride=2, ceil_mode=True,
          note="Overlapping max-pooling, 3×3 windows at stride 2: cut top-1 error by 0.4%."),
        L("conv2", "conv", "conv2", 256, 5, 1, 2, g2, towers=2,
          note="256 kernels of 5×5×48: each GPU sees only its own 48 conv1 channels."),
        L("relu2", "relu", "relu2"),
        L("norm2", "lrn", "norm2", lrn=CAFFE_LRN, note="LRN again, after conv2's ReLU."),
        L("pool2", "maxpool", "pool2", kernel=3, stride=2, ceil_mode=True, note="Overlapping max-pooling."),
        L("conv3", "conv", "conv3", 384, 3, 1, 1, g1, towers=2, cross_tower=True,
          note="384 kernels of 3×3×256: the one conv layer that reads both towers."),
        L("relu3", "relu", "relu3"),
        L("conv4", "conv", "conv4", 384, 3, 1, 1, g2, towers=2,
          note="384 kernels of 3×3×192, same-GPU inputs only."),
        L("relu4", "relu", "relu4"),
        L("conv5", "conv", "conv5", 256, 3, 1, 1, g2, towers=2,
          note="256 kernels of 3×3×192, same-GPU inputs only."),
        L("relu5", "relu", "relu5"),
        L("pool5", "maxpool", "pool5", kernel=3, stride=2, ceil_mode=True,
          note="Max-pool to 256×6×6 = 9216 values, the input of fc6."),
        L("flatten", "flatten", None, note="(C, H, W) order, as Caffe stores fc6's weights."),
        L("fc6", "linear", "fc6", 4096, towers=2, cross_tower=True,
          note="4096 units (2048 per GPU), connected to every unit of pool5 on both GPUs."),
        L("relu6", "relu", "relu6"),
        L("drop6", "dropout", "drop6", p=0.5, note="Dropout 0.5 while training; inactive at inference."),
        L("fc7", "linear", "fc7", 4096, towers=2, cross_tower=True, note="4096 units, fully connected."),
        L("relu7", "relu", "relu7"),
        L("drop7", "dropout", "drop7", p=0.5, note="Dropout 0.5 while training; inactive at inference."),
        L("fc8", "linear", "fc8", 1000, cross_tower=True, note="1000-way output, fed to a softmax."),
    )
    return Architecture(
        name="alexnet2012",
        title="AlexNet (Krizhevsky, Sutskever & Hinton 2012), two GPU towers, as Caffe's bvlc_alexnet",
        input_size=227,
        in_channels=3,
        num_classes=1000,
        layers=layers,
        source="NIPS 2012 paper; Caffe models/bvlc_alexnet/deploy.prototxt",
        tower_names=TOWERS,
        notes=(
            "The paper says 224×224 inputs; the arithmetic of conv1 needs 227 ((227−11)/4+1 = 55).",
            "Grouped convolutions (conv2, conv4, conv5) keep each GPU's channels apart.",
            "Pooling rounds output sizes up, as Caffe does; at 227 this equals rounding down.",
        ),
    )


def _torchvision() -> Architecture:
    L = Layer
    layers = (
        L("conv1", "conv", "features.0", 64, 11, 4, 2, note="64 kernels of 11×11, stride 4, padding 2; one tower."),
        L("relu1", "relu", "features.1", inplace=True),
        L("pool1", "maxpool", "features.2", kernel=3, stride=2, note="Overlapping max-pooling; no LRN."),
        L("conv2", "conv", "features.3", 192, 5, 1, 2, note="192 kernels of 5×5, no groups."),
        L("relu2", "relu", "features.4", inplace=True),
        L("pool2", "maxpool", "features.5", kernel=3, stride=2),
        L("conv3", "conv", "features.6", 384, 3, 1, 1, note="384 kernels of 3×3, as the paper's conv3."),
        L("relu3", "relu", "features.7", inplace=True),
        L("conv4", "conv", "features.8", 256, 3, 1, 1, note="256 kernels (the paper: 384)."),
        L("relu4", "relu", "features.9", inplace=True),
        L("conv5", "conv", "features.10", 256, 3, 1, 1, note="256 kernels of 3×3, as the paper's conv5."),
        L("relu5", "relu", "features.11", inplace=True),
        L("pool5", "maxpool", "features.12", kernel=3, stride=2),
        L("avgpool", "adaptiveavgpool", "avgpool", kernel=6,
          note="Adaptive average pooling to 6×6, so any input of at least 63 pixels reaches fc6."),
        L("flatten", "flatten", None),
        L("drop6", "dropout", "classifier.0", p=0.5, note="Dropout before each hidden fc layer."),
        L("fc6", "linear", "classifier.1", 4096),
        L("relu6", "relu", "classifier.2", inplace=True),
        L("drop7", "dropout", "classifier.3", p=0.5),
        L("fc7", "linear", "classifier.4", 4096),
        L("relu7", "relu", "classifier.5", inplace=True),
        L("fc8", "linear", "classifier.6", 1000),
    )
    return Architecture(
        name="torchvision",
        title="torchvision's AlexNet (Krizhevsky 2014, \"One weird trick\"), single tower",
        input_size=224,
        in_channels=3,
        num_classes=1000,
        layers=layers,
        source="torchvision/models/alexnet.py",
        notes=(
            "Built by torchvision itself, so its state dict loads unchanged.",
            "No LRN and no groups; conv widths 64-192-384-256-256.",
        ),
    )


def _keras_tutorial() -> Architecture:
    L = Layer
    layers = (
        L("conv1", "conv", "conv1", 96, 11, 4, 0, note="96 kernels 11×11/4, 'valid' padding."),
        L("relu1", "relu", "relu1"),
        L("pool1", "maxpool", "pool1", kernel=2, stride=2, note="2×2 non-overlapping pooling (the paper: 3×3/2)."),
        L("bn1", "batchnorm", "bn1", 96, note="BatchNorm instead of LRN (BatchNorm is from 2015)."),
        L("conv2", "conv", "conv2", 256, 11, 1, 0, note="11×11 'valid' (the paper: 5×5, padding 2, two groups)."),
        L("relu2", "relu", "relu2"),
        L("pool2", "maxpool", "pool2", kernel=2, stride=2),
        L("bn2", "batchnorm", "bn2", 256),
        L("conv3", "conv", "conv3", 384, 3, 1, 0, note="'valid' padding shrinks the maps (the paper keeps 13×13)."),
        L("relu3", "relu", "relu3"),
        L("bn3", "batchnorm", "bn3", 384),
        L("conv4", "conv", "conv4", 384, 3, 1, 0, note="'valid' again: the maps shrink to 4×4 (the paper: 13×13)."),
        L("relu4", "relu", "relu4"),
        L("bn4", "batchnorm", "bn4", 384),
        L("conv5", "conv", "conv5", 256, 3, 1, 0, note="256 kernels, 'valid': 2×2 maps reach pool5 (the paper: 13×13)."),
        L("relu5", "relu", "relu5"),
        L("pool5", "maxpool", "pool5", kernel=2, stride=2),
        L("bn5", "batchnorm", "bn5", 256),
        L("flatten", "flatten", None),
        L("fc6", "linear", "fc6", 4096),
        L("relu6", "relu", "relu6"),
        L("drop6", "dropout", "drop6", p=0.4),
        L("bn6", "batchnorm", "bn6", 4096),
        L("fc7", "linear", "fc7", 4096),
        L("relu7", "relu", "relu7"),
        L("drop7", "dropout", "drop7", p=0.4),
        L("bn7", "batchnorm", "bn7", 4096),
        L("fc8", "linear", "fc8", 1000, note="A 1000-unit hidden layer, with ReLU, dropout and BatchNorm."),
        L("relu8", "relu", "relu8"),
        L("drop8", "dropout", "drop8", p=0.4),
        L("bn8", "batchnorm", "bn8", 1000),
        L("fc9", "linear", "fc9", 17, note="17-way softmax: the tutorial trains on Oxford's 17 flowers."),
    )
    return Architecture(
        name="keras-tutorial",
        title="A popular Keras re-implementation (17 flowers tutorial)",
        input_size=227,
        in_channels=3,
        num_classes=17,
        layers=layers,
        source="Widely copied Keras Sequential 'AlexNet' tutorial (Conv2D/MaxPooling2D/BatchNormalization)",
        notes=(
            "BatchNorm parameters are counted as Keras's summary counts them: 4 per channel (2 trainable).",
            "Departs from the paper in pooling, normalisation, conv2's kernel, padding and the classifier.",
        ),
    )


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a for a in (_alexnet2012(), _torchvision(), _keras_tutorial())
}


def get_architecture(name: str) -> Architecture:
    """The table of variant ``name``, or a ValueError that lists the variants there are."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}: choose one of {', '.join(ARCHITECTURES)}."
        ) from None


@dataclass(frozen=True)
class Preprocessing:
    """How a photo becomes the network's input: resize the shorter side, centre-crop, normalise.

    ``scale`` is what pixel values are multiplied by after conversion to 0..255 floats; then
    ``mean`` is subtracted and the result divided by ``std`` (all per channel, RGB order).
    """

    resize: int
    crop: int
    scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    note: str = ""

    def normalize(self, x, *, divide: bool = False):
        """The one normalisation: (N, 3, H, W) pixel values on the 0–255 scale (uint8 or float,
        any device) -> the network's input, ``x · scale``, minus ``mean``, over ``std``, per channel.

        A float ``x`` is not changed (a graph through it is kept: feature visualisation optimises
        through this). ``divide`` divides by ``1 / scale`` instead of multiplying by ``scale``,
        bit for bit what torchvision's ``ConvertImageDtype`` (``x / 255``) gives; the two can
        differ in the last bit of a float.
        """
        import torch  # here: the tables themselves need no torch

        x = x.float() / round(1 / self.scale) if divide else x.float() * self.scale  # a new tensor: ours to change
        mean = torch.tensor(self.mean, device=x.device).view(-1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(-1, 1, 1)
        return x.sub_(mean).div_(std)  # (x − mean) / std, as torchvision's normalize computes it


PREPROCESSING: dict[str, Preprocessing] = {
    # Caffe's ILSVRC-2012 mean in RGB order; values stay on the 0-255 scale.
    "alexnet2012": Preprocessing(256, 227, 1.0, (122.68, 116.67, 104.01),
                                 note="0–255 RGB minus the ILSVRC-2012 per-channel mean (Caffe's)."),
    # torchvision's AlexNet_Weights.IMAGENET1K_V1.transforms(); a test checks these numbers.
    "torchvision": Preprocessing(256, 224, 1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                                 note="torchvision's ImageNet transforms: 0–1 scale, mean/std normalised."),
    "keras-tutorial": Preprocessing(227, 227, 1 / 255, (0.0, 0.0, 0.0), note="0–1 scale, no mean."),
}
