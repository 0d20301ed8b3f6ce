"""Folders of photos -> the files to try, and batches of preprocessed tensors decoded in parallel.

``walk`` lists every regular file under a folder (following symlinks, but never into a loop) and
says why anything else was passed over. ``batches`` reads, digests, decodes and preprocesses
files on a thread pool while the caller runs the network on the previous batch: Pillow's decoders,
hashlib and torch's resize all release the GIL, so threads are enough to keep decoding off the
critical path, and nothing has to be pickled (unlike DataLoader's worker processes).
"""
from __future__ import annotations

import hashlib
import os
import stat
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch

from ..images import ImageError, load_image

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Walk:
    """What a folder holds: files to try (absolute, sorted) and (path, reason) for the rest."""

    root: Path
    files: list[Path]
    skipped: list[tuple[str, str]]


def walk(folder: str | os.PathLike, exclude: Iterable[str | os.PathLike] = ()) -> Walk:
    """Every regular file under ``folder``, recursively; symlinks are followed once each.

    Hidden files and folders (names starting with ".") are left out silently, as a file browser
    does. ``exclude`` names folders not to enter (e.g. the index being written inside ``folder``).
    Nothing here is fatal except a ``folder`` that is not a folder (ValueError with a sentence).
    """
    root = Path(folder).expanduser().absolute()
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise ValueError(f"{root} {what}: give a folder of photos.")
    excluded = {_inode(Path(p)) for p in exclude if Path(p).is_dir()}
    seen: set[tuple[int, int]] = set()
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    stack = [root]
    while stack:
        here = stack.pop()
        key = _inode(here)
        if key in excluded:
            continue
        if key in seen:  # a symlink back up the tree, or a second link to a folder already walked
            skipped.append((str(here), "a symlink loop: this folder was already walked"))
            continue
        seen.add(key)
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as exc:
            skipped.append((str(here), f"the folder cannot be read ({exc.strerror or exc})"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                st = path.stat()  # follows symlinks
            except OSError as exc:
                reason = ("a symlink whose target is missing" if entry.is_symlink()
                          else f"cannot be read ({exc.strerror or exc})")
                if getattr(exc, "errno", None) == 40:  # ELOOP: a symlink that points at itself
                    reason = "a symlink loop"
                skipped.append((str(path), reason))
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)
            elif stat.S_ISREG(st.st_mode):
                files.append(path)
            else:
                skipped.append((str(path), "not a regular file (a device, pipe or socket)"))
    return Walk(root, sorted(files), sorted(skipped))


def _inode(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


def read_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB pieces (tests replace this to fake unreadable files)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Item:
    """One file after its worker: a digest, and the tensor when it had to be decoded."""

    path: str
    digest: str | None = None
    x: torch.Tensor | None = None  # what ``preprocess`` made of the image, on the CPU
    error: str | None = None  # why it was skipped
    size: tuple[int, int] | None = None  # the decoded image's (width, height)


def load_item(path: Path, preprocess: Callable, decode: Callable[[str, str], bool] = lambda p, d: True,
              digest: bool = True) -> Item:
    """Digest ``path``; if ``decode(path, digest)`` says so, load and preprocess it. Never raises
    for a bad file: the reason goes into ``Item.error``."""
    item = Item(str(path))
    try:
        item.digest = read_digest(path) if digest else None
        if decode(item.path, item.digest):
            img = load_image(path)
            item.size = img.size
            item.x = preprocess(img).cpu()
    except ImageError as exc:
        item.error = " ".join(str(exc).split())
    except OSError as exc:  # unreadable, vanished, or an I/O error part-way
        item.error = f"cannot be read ({exc.strerror or exc})"
    return item


def batches(paths: list[Path], job: Callable[[Path], Item], batch_size: int = 32, workers: int = 4,
            ahead: int = 2) -> Iterator[list[Item]]:
    """``job`` over ``paths`` on ``workers`` threads, yielded in order a batch at a time.

    Up to ``ahead`` batches beyond the one being yielded are in flight, so decoding overlaps the
    caller's compute. Leaving the loop early (an exception in the caller) cancels what is queued.
    """
    if batch_size < 1 or workers < 1:
        raise ValueError(f"batch size and workers must be at least 1 (got {batch_size} and {workers}).")
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alexnet-viz-decode")
    queue: deque[list[Future]] = deque()
    starts = iter(range(0, len(paths), batch_size))
    try:
        def submit() -> None:
            start = next(starts, None)
            if start is not None:
                queue.append([pool.submit(job, p) for p in paths[start:start + batch_size]])

        for _ in range(ahead + 1):
            submit()
        while queue:
            futures = queue.popleft()
            submit()
            yield [f.result() for f in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
