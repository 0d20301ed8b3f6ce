"""alexnet_viz: AlexNet as the 2012 paper built it, and the tools to look inside it."""
from . import heatmaps, render
from .architecture import ARCHITECTURES, Architecture, Layer, get_architecture
from .attribution import (
    ATTRIBUTION_METHODS, Contrast, Explanation, SanityCheck, attribute, explain, find_class, sanity_check,
)
from .featvis import cached_visualization, visualize, visualize_many
from .kernels import colourfulness
from .lab import ablate, ablate_activations, ablation_effect, mc_dropout, ten_crop
from .images import MAX_BYTES, MAX_PIXELS, ImageError, image_digest, load_image
from .network import Network, class_names, full_float32, pick_device
from .network import load_network  # one device, or two: one tower on each
from .index import Index, IndexReport, PhotoIndexError, build_index, evaluate, open_index
from .units import Unit, effective_receptive_field, strongest_input, strongest_reader, trace_unit
from .walkthrough import WalkRow, total_params, tower_bytes, walkthrough
from .weights import WeightsError
from .weights.caffe import read_caffemodel

__all__ = [
    "ARCHITECTURES", "Architecture", "Layer", "get_architecture",
    "Network", "class_names", "full_float32", "load_network", "pick_device",
    "WalkRow", "total_params", "walkthrough",
    "ImageError", "load_image", "image_digest", "MAX_BYTES", "MAX_PIXELS", "WeightsError", "read_caffemodel",
    "ATTRIBUTION_METHODS", "Contrast", "Explanation", "SanityCheck", "attribute", "explain", "find_class",
    "sanity_check", "heatmaps", "render", "colourfulness",
    "Index", "IndexReport", "PhotoIndexError", "build_index", "evaluate", "open_index",
    "ablate", "ablate_activations", "ablation_effect", "mc_dropout", "ten_crop", "tower_bytes",
    "visualize", "visualize_many", "cached_visualization",
    "Unit", "trace_unit", "effective_receptive_field", "strongest_input", "strongest_reader",
]
__version__ = "0.1.0"
