"""Turning whatever a user hands us into a clean RGB image, or ImageError. (Stage 1: minimal.)"""
from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


class ImageError(ValueError):
    """The input is not an image we can use; the message says why and what to do."""


def load_image(source) -> Image.Image:
    """A path, bytes or a binary file-like object -> an RGB PIL image, or ImageError."""
    try:
        if isinstance(source, (bytes, bytearray)):
            source = io.BytesIO(source)
        elif isinstance(source, (str, Path)):
            source = Path(source)
        img = Image.open(source)
        img.load()
        return img.convert("RGB")
    except Exception as exc:  # noqa: BLE001 - replaced by the full loader
        raise ImageError(f"Could not read this image: {exc}") from None
