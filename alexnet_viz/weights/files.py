"""Weight files on disk: checked before they are opened, read within bounds, saved atomically.

Every path a person gives (the command line, the library, the app's weights folder) goes through
``open_weight_file``: it refuses anything but a regular file under ``MAX_WEIGHT_FILE_BYTES``
from ``stat`` alone, before opening it, so a device (``/dev/zero``), a FIFO, a socket or a
folder is never read and a 1 GB file is refused without reading a byte. The open itself is
non-blocking and checked again, so a path swapped for a FIFO between the two cannot hang.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import stat
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

import torch

from .errors import WeightsError

MAX_WEIGHT_FILE_BYTES = 512 * 2**20
"""Largest weight file read (512 MiB): the real files are about 233 MB, a caffemodel cannot pass
protobuf's 2 GiB, and reading is whole-file, so the cap bounds the memory one load can take."""

CHUNK = 1 << 20
STALE_PART_S = 600  # a temp file untouched this long belongs to a download or save that died

_WHAT_WEIGHTS_ARE = "a .caffemodel or a saved PyTorch state dict"


def _kind(mode: int) -> str:
    """A file type in words, for the sentence that refuses it."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _refuse_unless_readable_file(p: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise WeightsError(f"{p} is {_kind(st.st_mode)}, not a weight file; give the path of {_WHAT_WEIGHTS_ARE}.")
    if st.st_size == 0:
        raise WeightsError(f"{p} is empty; it is not a weight file.")
    if st.st_size > MAX_WEIGHT_FILE_BYTES:
        raise WeightsError(
            f"{p} is {st.st_size / 2**20:,.0f} MiB, more than the {MAX_WEIGHT_FILE_BYTES // 2**20} MiB a weight "
            f"file may be (AlexNet's are about 233 MB): it is not one of this network's weight files.")


def check_weight_path(path: str | os.PathLike) -> Path:
    """The path, expanded, if it names a regular, non-empty file under the size cap; else a
    WeightsError sentence. Uses ``stat`` only: nothing is opened."""
    p = Path(path).expanduser()
    try:
        st = os.stat(p)  # follows symlinks: what matters is what would be read
    except FileNotFoundError:
        raise WeightsError(
            f"There is no weight file at {p}. Weights are pretrained, untrained, or the path of "
            f"{_WHAT_WEIGHTS_ARE}.") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise WeightsError(f"{p} could not be read: {getattr(exc, 'strerror', None) or exc}.") from None
    _refuse_unless_readable_file(p, st)
    return p


def open_weight_file(path: str | os.PathLike) -> BinaryIO:
    """``check_weight_path``, then open it for reading without ever blocking; checked again on
    the open descriptor (the path may have changed in between)."""
    p = check_weight_path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise WeightsError(f"{p} could not be read: {exc.strerror or exc}.") from None
    try:
        _refuse_unless_readable_file(p, os.fstat(fd))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # a regular file: blocking reads are plain reads
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(f: BinaryIO, name: str | os.PathLike) -> bytes:
    """The whole of an opened weight file, refusing it if it grew past the cap since its check."""
    data = f.read(MAX_WEIGHT_FILE_BYTES + 1)
    if len(data) > MAX_WEIGHT_FILE_BYTES:
        raise WeightsError(f"{name} grew past {MAX_WEIGHT_FILE_BYTES // 2**20} MiB while it was read; it is not a weight file.")
    return data


# -- checksums and atomic writes ---------------------------------------------------------------

def file_digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def matches(path: Path, algo: str, digest: str) -> bool:
    try:
        return file_digest(path, algo).startswith(digest)
    except OSError:
        return False


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def verify_converted(path: Path) -> bool:
    """A converted file is trusted only when its SHA-256 matches the one written beside it."""
    try:
        want = sidecar_path(path).read_text().split()[0]
    except (OSError, IndexError):
        return False
    return matches(path, "sha256", want)


def unlink(*paths: Path) -> None:
    for p in paths:
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def remove_stale_parts(dest: Path) -> None:
    """Temp files of downloads and conversions that died without cleaning up (a killed process)."""
    now = time.time()
    for p in dest.parent.glob(f".{dest.name}.*.part"):
        try:
            if now - p.stat().st_mtime > STALE_PART_S:
                p.unlink()
        except OSError:
            pass


def temp_beside(dest: Path) -> tuple[int, Path]:
    """A new temp file in ``dest``'s folder (so the final rename is atomic): (fd, path)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(dest)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    return fd, Path(name)


def save_state_dict(state: dict[str, torch.Tensor], dest: str | os.PathLike, sidecar: bool = False) -> Path:
    """``torch.save`` atomically; with ``sidecar``, its SHA-256 goes beside it (``NAME.sha256``)."""
    dest = Path(dest)
    fd, tmp = temp_beside(dest)  # a conversion killed mid-write leaves 233 MB behind otherwise
    os.close(fd)
    side_tmp = tmp.with_name(tmp.name + ".sha256")
    try:
        torch.save(state, tmp)
        if sidecar:
            side_tmp.write_text(f"{file_digest(tmp, 'sha256')}  {dest.name}\n")
            os.replace(side_tmp, sidecar_path(dest))
        os.replace(tmp, dest)
    except BaseException:
        unlink(tmp, side_tmp)
        raise
    return dest


# -- torch files ---------------------------------------------------------------------------------

def looks_like_torch(head: bytes) -> bool:
    # torch's zip format, or its legacy pickle (protocol 2 to 5: anything else is not torch's and
    # would only make torch print a warning before failing)
    return head.startswith(b"PK\x03\x04") or head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def load_torch_file(path: str | os.PathLike, f: BinaryIO | None = None) -> dict[str, torch.Tensor]:
    """A torch state-dict file -> its tensors, with ``weights_only=True`` (nothing can run code)."""
    path = Path(path)
    try:
        if f is None:
            with open_weight_file(path) as g:
                obj = torch.load(g, map_location="cpu", weights_only=True)
        else:
            obj = torch.load(f, map_location="cpu", weights_only=True)
    except WeightsError:
        raise
    except pickle.UnpicklingError as exc:
        # weights_only refuses a class or function by name ("Unsupported global"); any other
        # UnpicklingError is a damaged file, and telling that person about code would mislead.
        if "global" in str(exc).lower():
            raise WeightsError(
                f"{path} holds Python objects besides tensors, and loading those could run code, so it "
                f"was refused; save the model's state_dict() instead of the model.") from None
        raise WeightsError(f"{path} is damaged: it starts like a PyTorch file but cannot be read as one; "
                           f"save or download it again.") from None
    except EOFError:
        raise WeightsError(f"{path} ends early: it may be a partial download or an interrupted copy; "
                           f"save or download it again.") from None
    except Exception as exc:  # torch raises several kinds for a damaged or foreign file
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # some carry no message
        raise WeightsError(f"{path} could not be read as a PyTorch file ({detail}).") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # the common checkpoint wrapper
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state dict (names -> tensors).")
    for prefix in ("body.", "module."):  # Network.state_dict(), DataParallel
        if all(k.startswith(prefix) for k in obj):
            obj = {k[len(prefix):]: v for k, v in obj.items()}
    return obj


# -- a folder the person running a server exposes -------------------------------------------------

def weight_files_in(folder: str | os.PathLike) -> list[str]:
    """The names of the weight files a server may offer from ``folder``: regular, non-empty
    files under the size cap that resolve inside the folder (a symlink pointing out of it, or
    to a device, is left out). Not recursive; hidden files and temp files are left out."""
    root = Path(folder).expanduser().resolve()
    names = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name.lower())
    except OSError:
        return []
    for entry in entries:
        if entry.name.startswith(".") or entry.name.endswith(".part"):
            continue
        try:
            confined_weight_path(root, entry.name)
        except WeightsError:
            continue
        names.append(entry.name)
    return names


def confined_weight_path(folder: str | os.PathLike, name: str) -> Path:
    """``folder/name`` resolved, if it is a weight file inside ``folder`` (``check_weight_path``);
    a name with a separator or ``..``, or one that resolves outside, is refused with a sentence."""
    root = Path(folder).expanduser().resolve()
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise WeightsError(f"{name!r} is not the name of a file in the weights folder.")
    target = (root / name).resolve()
    if target == root or not target.is_relative_to(root):
        raise WeightsError(f"{name} points outside the weights folder, so it is not offered.")
    return check_weight_path(target)
