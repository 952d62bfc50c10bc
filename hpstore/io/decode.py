"""Identify and decode photo files into arrays in sensor orientation.

``probe(path)`` reads only headers and metadata: format, geometry, camera identity and capture facts, and
checks the header's claims against the file's size. ``decode_into`` decodes the full content into a
caller-owned ``(row, col, channel)`` array: the CFA mosaic (``raw_image_visible``) for RAW files, the frame
for FITS, the stored pixel channels for JPEG, PNG, TIFF and HEIF. Orientation (EXIF, HEIF ``irot``) is never
applied: row 0 is the first row the camera stored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpstore.errors import DecodeError, UnsupportedFormat, first_line
from hpstore.io import fits, heif, images, raw, tiff
from hpstore.io.metadata import read_facts
from hpstore.io.photo import PhotoInfo, check_claim

RAW_EXTS = frozenset([
    ".dng", ".nef", ".nrw", ".cr2", ".cr3", ".crw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".pef", ".srw",
    ".x3f", ".3fr", ".fff", ".iiq", ".mos", ".mef", ".mrw", ".erf", ".kdc", ".dcr", ".rwl", ".raw", ".gpr",
])  # fmt: skip
OTHER_EXTS = {".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".png": "png", ".tif": "tiff", ".tiff": "tiff"}
OTHER_EXTS |= {ext: "heif" for ext in heif.HEIF_EXTS} | {ext: "fits" for ext in fits.FITS_EXTS}
HEAD_BYTES = 64  # enough to tell the formats apart


def claimed_format(path: Path) -> str | None:
    """The format a file's name says it holds, or None for names hpstore does not read."""
    ext = path.suffix.lower()
    return "raw" if ext in RAW_EXTS else OTHER_EXTS.get(ext)


def sniff(path: Path, head: bytes) -> str:
    """The format a file really holds, from its first bytes (and its name, for RAW)."""
    claimed = claimed_format(path)
    if not head:
        if claimed:
            raise DecodeError("empty file (0 bytes)")
        raise UnsupportedFormat("unsupported format (empty file)")
    found = ""
    if head.startswith(b"\xff\xd8\xff"):
        found = "jpeg"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        found = "png"
    elif head.startswith(b"SIMPLE  =") and claimed in ("fits", None):
        found = "fits"
    elif head[4:8] == b"ftyp" and head[8:12] in heif.HEIF_BRANDS:
        found = "heif"
    elif claimed == "raw":
        found = "raw"  # LibRaw knows the many RAW containers (TIFF-based, CR3, RAF, CRW, ...); let it decide
    elif head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        found = "tiff"
    if found:
        return found
    if claimed:
        raise DecodeError(f"not a {claimed.upper()} file: content does not start like one")
    raise UnsupportedFormat(f"unsupported format ({path.suffix.lower() or 'no extension'})")


def read_head(path: Path, size: int = HEAD_BYTES) -> tuple[bytes, int]:
    """The first bytes of a file and its size."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size), fh.seek(0, 2)
    except OSError as err:
        raise DecodeError(f"cannot read: {err.strerror or err}") from err


def probe(path: Path) -> PhotoInfo:
    """Identify a file from its headers without decoding its pixels.

    Raises ``UnsupportedFormat`` for files that are not photos hpstore reads, ``DecodeError`` for damaged
    ones, including a header that claims more pixels than the file can hold.
    """
    head, size = read_head(path)
    fmt = sniff(path, head)
    try:
        if fmt == "fits":
            info, least = fits.probe_fits(path)
        else:
            facts = read_facts(path)
            if fmt == "raw":
                info, least = raw.probe_raw(path, facts)
            elif fmt == "tiff":
                info, least = tiff.probe_tiff(path, facts)
            elif fmt == "heif":
                info, least = heif.probe_heif(path, facts)
            else:
                info, least = images.probe_image(path, fmt, facts)
    except DecodeError:
        raise
    except Exception as err:
        raise DecodeError(f"cannot read {fmt.upper()} header: {first_line(err)}") from err
    check_claim(info, size, least)
    return info


def decode_into(data: bytes, info: PhotoInfo, out: np.ndarray) -> None:
    """Decode a file's full content into ``out`` (shape ``info.shape``, dtype ``info.dtype``).

    Raises ``DecodeError`` when the content is damaged or no longer matches what ``probe`` saw.
    """
    decoders = {
        "raw": raw.decode_raw,
        "tiff": tiff.decode_tiff,
        "heif": heif.decode_heif,
        "fits": fits.decode_fits,
    }
    try:
        decoders.get(info.format, images.decode_image)(data, info, out)
    except DecodeError:
        raise
    except Exception as err:
        raise DecodeError(f"cannot decode {info.format.upper()}: {first_line(err)}") from err
