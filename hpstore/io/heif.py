"""HEIF/HEIC (what phones shoot) through pillow-heif (libheif).

libheif turns the decoded image by the file's ``irot``/``imir`` properties (the HEIF form of EXIF
orientation); here the turn is undone, so rows and columns are those of the coded image, as for every other
format. 10- and 12-bit images keep their values in 16-bit samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif

from hpstore.errors import DecodeError, first_line
from hpstore.io.images import put
from hpstore.io.metadata import Facts
from hpstore.io.photo import PhotoInfo

HEIF_EXTS = frozenset([".heic", ".heif", ".hif"])  # not AVIF: pillow-heif's wheels carry no AV1 decoder
HEIF_BRANDS = frozenset([b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"])

pillow_heif.options.THUMBNAILS = False
pillow_heif.options.DEPTH_IMAGES = False
pillow_heif.options.AUX_IMAGES = False


def _open(source: Path | bytes) -> Any:
    try:
        return pillow_heif.open_heif(source, convert_hdr_to_8bit=False, hdr_to_16bit=False)
    except (ValueError, RuntimeError, OSError, EOFError, SyntaxError) as err:
        raise DecodeError(f"cannot read HEIF: {first_line(err)}") from err


def _primary(heif: Any) -> tuple[Any, tuple[tuple[Any, ...], ...]]:
    image = heif[heif.primary_index]
    # pillow-heif applies the file's transformations and lists them on its C image object.
    transforms = getattr(getattr(image, "_c_image", None), "transformations", ())
    return image, tuple(transforms or ())


def _turned(transforms: tuple[tuple[Any, ...], ...]) -> bool:
    return any(t[0] == "irot" and t[1] in (90, 270) for t in transforms)


def probe_heif(path: Path, facts: Facts) -> tuple[PhotoInfo, float]:
    """(info, fewest bytes such a file takes) of a HEIF file's primary image, in coded orientation."""
    heif = _open(path)
    image, transforms = _primary(heif)
    width, height = image.size
    if _turned(transforms):
        width, height = height, width
    bit_depth = int(image.info.get("bit_depth", 8))
    channels = 1 if image.mode in ("L", "I;16", "I;16L") else 3
    bits = 8 if bit_depth <= 8 else 16
    info = PhotoInfo("heif", height, width, channels, bits, white_level=float((1 << bit_depth) - 1), facts=facts)
    # HEVC can code a flat 64x64 block in about a bit.
    return info, height * width / 4096 / 8


def _unturn(array: np.ndarray, transforms: tuple[tuple[Any, ...], ...]) -> np.ndarray:
    """Undo libheif's display transformations (applied in the listed order) to get the coded image."""
    for transform in reversed(transforms):
        if transform[0] == "imir":
            array = np.flip(array, axis=1 if transform[1] == 1 else 0)
        elif transform[0] == "irot":
            array = np.rot90(array, -(int(transform[1]) // 90))
    return array


def decode_heif(data: bytes, info: PhotoInfo, out: np.ndarray) -> None:
    heif = _open(data)
    image, transforms = _primary(heif)
    try:
        array = np.asarray(image)
    except (ValueError, RuntimeError, OSError) as err:
        raise DecodeError(f"cannot decode HEIF: {first_line(err)}") from err
    put(out, _unturn(array, transforms), info)
