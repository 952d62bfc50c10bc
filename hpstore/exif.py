"""Camera identity and capture facts from EXIF, read with Pillow's TIFF directory parser.

Works on JPEG/PNG (``Image.getexif()``) and on the head of any file that holds a TIFF directory: TIFF, the
TIFF-based RAW formats (DNG, NEF, CR2, ARW, PEF, ORF, RW2, ...), and containers that embed one (CR3's CMT1
box, RAF's embedded JPEG).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from PIL import Image

# Standard tag numbers (TIFF/EXIF 2.3, DNG 1.4).
MAKE, MODEL, ORIENTATION, DATETIME = 271, 272, 274, 306
EXIF_IFD = 0x8769
EXPOSURE_TIME, ISO, DATETIME_ORIGINAL, BODY_SERIAL = 33434, 34855, 36867, 42033
DNG_CAMERA_SERIAL = 50735
FOCAL_PLANE_X, FOCAL_PLANE_Y, FOCAL_PLANE_UNIT = 41486, 41487, 41488
_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # FocalPlaneResolutionUnit: inch (default), cm, mm, um

_TIFF_MAGIC = re.compile(rb"II\*\x00|MM\x00\*")
# ORF ("IIRO", "IISR") and RW2 ("IIU\0") are TIFF with their own magic; parse them as plain TIFF.
_TIFF_LIKE = (b"IIRO", b"IISR", b"MMOR", b"IIU\x00")


@dataclass(frozen=True)
class ExifFacts:
    """What hpstore needs from EXIF; every field may be missing."""

    make: str | None = None
    model: str | None = None
    serial: str | None = None
    capture_time: dt.datetime | None = None
    exposure_time: float | None = None
    iso: float | None = None
    orientation: int | None = None
    pixels_per_mm: tuple[float, float] | None = None  # focal-plane resolution (x, y): the sensor's size in mm


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value is None:
        return None
    text = str(value).replace("\x00", " ").strip()
    return text or None


def _number(value: Any) -> float | None:
    if isinstance(value, tuple | list):
        value = value[0] if value else None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if number > 0 else None


def _time(value: Any) -> dt.datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        return dt.datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def facts_from_exif(exif: Image.Exif) -> ExifFacts:
    """Pick identity and capture facts from IFD0 and the Exif sub-IFD (either may hold them)."""
    try:
        sub = dict(exif.get_ifd(EXIF_IFD))
    except Exception:  # a broken sub-IFD offset: keep what IFD0 has
        sub = {}

    def tag(number: int) -> Any:
        return sub.get(number, exif.get(number))

    make = _text(exif.get(MAKE))
    model = _text(exif.get(MODEL))
    if make and model and model.lower().startswith(make.lower() + " "):
        model = model[len(make) + 1 :]  # "Canon Canon EOS R5" -> "EOS R5"
    orientation = exif.get(ORIENTATION)
    x, y = _number(tag(FOCAL_PLANE_X)), _number(tag(FOCAL_PLANE_Y))
    unit = _UNIT_MM.get(int(_number(tag(FOCAL_PLANE_UNIT)) or 2))
    return ExifFacts(
        make=make,
        model=model,
        serial=_text(tag(BODY_SERIAL)) or _text(exif.get(DNG_CAMERA_SERIAL)),
        capture_time=_time(tag(DATETIME_ORIGINAL)) or _time(exif.get(DATETIME)),
        exposure_time=_number(tag(EXPOSURE_TIME)),
        iso=_number(tag(ISO)),
        orientation=int(orientation) if isinstance(orientation, int) else None,
        pixels_per_mm=(x / unit, (y or x) / unit) if x and unit else None,
    )


def exif_from_head(head: bytes) -> Image.Exif | None:
    """Parse the first TIFF directory found in the first bytes of a file, or return None."""
    if head[:4] in _TIFF_LIKE:
        head = (b"II*\x00" if head[:2] == b"II" else b"MM\x00*") + head[4:]
        start = 0
    else:
        match = _TIFF_MAGIC.search(head)
        if match is None:
            return None
        start = match.start()
    exif = Image.Exif()
    try:
        exif.load(head[start:])
    except Exception:  # corrupt directory: treat as no EXIF
        return None
    return exif if len(exif) else None
