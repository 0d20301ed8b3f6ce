"""Photo indexes: folders of photos -> an embedded index of what each channel and fc7 make of them.

Top images and patches per channel, fc7 neighbours, and accuracy on a labelled folder.

    walk.py      a folder -> files to try (and why others were skipped); batches decoded on threads
    store.py     the SQLite file: schema, the network it is bound to, packing of numbers
    build.py     build_index: resumable, incremental, one transaction per batch
    query.py     open_index -> Index: images, skipped, top_images, top_patch, nearest
    evaluate.py  top-1 / top-5 on a folder in ImageNet's layout
    ray_build.py build_index(..., ray="local" | "auto"): the same index built on Ray Data (the scale extra)
"""
from .build import IndexReport, build_index
from .evaluate import Evaluation, evaluate, imagenet_wnids
from .query import Index, open_index
from .store import PhotoIndexError

__all__ = ["IndexReport", "build_index", "Evaluation", "evaluate", "imagenet_wnids", "Index", "open_index",
           "PhotoIndexError"]
