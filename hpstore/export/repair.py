"""Repaired copies of photos: each defect active at the photo's capture time, and its JPEG smear, painted
over from the pixels around it. Originals are never written; copies go to a folder that holds none of them.

A JPEG is decoded, repaired and encoded again with its own quantization tables and chroma subsampling, so the
rest of the image stays within a re-encoding's error (above 40 dB PSNR); EXIF, ICC and XMP are kept. PNG
and TIFF copies are lossless (an uncompressed TIFF is copied byte for byte but for the painted pixels). A
DNG copy carries the defects as a FixBadPixelsList opcode, which Adobe Camera Raw and Lightroom apply, and
repaired photosites where its data is uncompressed (``hpstore.export.dng``); other RAW formats are mapped
out by the raw converter (``hpstore export``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, JpegImagePlugin

from hpstore.errors import BadArgument, DecodeError, UnsupportedFormat
from hpstore.export.maps import by_shape
from hpstore.types import Defect, Record, Source

RADIUS = 2  # pixels around a defect painted over in lossless images: the pixel and its demosaicing smear
# In a JPEG with subsampled chroma a defect's colour spreads over its 2x2 chroma cell and that cell's DCT
# ringing: at quality 75 a radius of 2 took 67 % of a stuck pixel's excess away, 4 took 95 % (simulator
# photos; 98 % and 99 % at quality 95).
JPEG_RADIUS = 4


@dataclass(frozen=True)
class Fixed(Record):
    """What ``fix`` did with one photo: ``status`` fixed (``output`` written), unchanged (no defect active
    at its capture time: no copy) or skipped (``reason``)."""

    path: str
    status: str
    output: str | None = None
    repaired: int = 0
    reason: str | None = None


def appeared(defect: Defect, when: dt.datetime | None) -> bool:
    """Whether a defect had appeared by a photo's capture time ``when`` (yes for an undated photo, and for a
    defect never dated)."""
    return defect.first_seen is None or when is None or defect.first_seen <= when


def active(
    defects: Sequence[Defect], source: str, width: int, height: int, when: dt.datetime | None
) -> list[Defect]:
    """The point defects of this source and size that had appeared by ``when``."""
    return [
        d
        for d in defects
        if d.source == source
        and d.geometry == f"{width}x{height}"
        and d.row is not None
        and d.col is not None
        and appeared(d, when)
    ]


def paint(pixels: np.ndarray, row: int, col: int, radius: int = RADIUS) -> None:
    """Paint over the square of ``radius`` around (row, col), in place, each channel from the ring of pixels
    just outside it, weighted by the inverse square of the distance: a smooth patch that carries the
    surroundings' level and gradient in, with nothing of the defect or its smear."""
    h, w = pixels.shape[:2]
    reach = radius + 1
    y0, y1, x0, x1 = max(row - reach, 0), min(row + reach + 1, h), max(col - reach, 0), min(col + reach + 1, w)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    inner = (np.abs(ys - row) <= radius) & (np.abs(xs - col) <= radius)
    ring = ~inner
    if not ring.any():
        return
    window = pixels[y0:y1, x0:x1].astype(np.float64)
    known = window[ring]  # (k, channels)
    ky, kx = ys[ring], xs[ring]
    for y, x in zip(ys[inner], xs[inner], strict=True):
        weights = 1.0 / ((ky - y) ** 2 + (kx - x) ** 2)
        value = weights @ known / weights.sum()
        top = np.iinfo(pixels.dtype).max if pixels.dtype.kind == "u" else np.inf
        pixels[y, x] = np.clip(np.rint(value), 0, top)


def repaired_copy(path: Path, target: Path, defects: Sequence[Defect], when: dt.datetime | None) -> int:
    """Write ``path`` with the ``defects`` active at ``when`` painted over to ``target``; the number
    repaired (0: nothing written)."""
    with Image.open(path) as image:
        fmt = image.format
        if fmt not in ("JPEG", "PNG"):
            raise UnsupportedFormat(f"repairing {fmt} files is not supported: JPEG and PNG are")
        if image.mode not in ("RGB", "L"):
            raise UnsupportedFormat(f"repairing {image.mode} images is not supported: RGB and greyscale are")
        pixels = np.array(image)
        found = active(defects, Source.RGB.value, image.width, image.height, when)
        if not found:
            return 0
        keep = {k: image.info[k] for k in ("exif", "icc_profile", "xmp", "dpi") if image.info.get(k)}
        if fmt == "JPEG":
            keep["qtables"] = image.quantization  # type: ignore[attr-defined]  # JpegImageFile
            keep["subsampling"] = JpegImagePlugin.get_sampling(image)
            keep["progressive"] = bool(image.info.get("progressive"))
        radius = JPEG_RADIUS if fmt == "JPEG" else RADIUS
        for d in found:
            assert d.row is not None and d.col is not None
            paint(pixels, d.row, d.col, radius)
    Image.fromarray(pixels).save(target, fmt, **keep)
    return len(found)


_KEPT_TIFF_TAGS = (270, 271, 272, 305, 306, 315, 700, 33432, 33723, 34675)  # text, XMP, IPTC, ICC


def repaired_tiff(
    path: Path, target: Path, defects: Sequence[Defect], when: dt.datetime | None
) -> tuple[int, str]:
    """Write ``path`` with the ``defects`` active at ``when`` painted over to ``target``: (the number
    repaired, a note). An uncompressed TIFF in strips is copied byte for byte with only the painted pixels
    changed, so every tag, EXIF included, is kept; another is written again with its compression and its
    descriptive tags (text, XMP, IPTC, ICC), but not its EXIF directory, which the note says."""
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        pixels = page.asarray()
        plane = pixels if pixels.ndim == 3 else pixels[..., None]
        height, width = plane.shape[:2]
        found = active(defects, Source.RGB.value, width, height, when)
        if not found:
            return 0, ""
        for d in found:
            assert d.row is not None and d.col is not None
            paint(plane, d.row, d.col, RADIUS)
        in_place = page.compression == 1 and page.planarconfig == 1 and not page.is_tiled
        if in_place:
            data = bytearray(path.read_bytes())
            order, size = tif.byteorder, plane.dtype.itemsize
            per_strip = page.rowsperstrip or height
            for d in found:
                assert d.row is not None and d.col is not None
                for r in range(max(d.row - RADIUS, 0), min(d.row + RADIUS + 1, height)):
                    lo, hi = max(d.col - RADIUS, 0), min(d.col + RADIUS + 1, width)
                    at = page.dataoffsets[r // per_strip] + ((r % per_strip) * width + lo) * plane.shape[2] * size
                    row = plane[r, lo:hi].astype(plane.dtype.newbyteorder(order))
                    data[at : at + row.nbytes] = row.tobytes()
            target.write_bytes(bytes(data))
            return len(found), ""
        kept = [
            (tag.code, int(tag.dtype), tag.count, tag.value, True)
            for tag in page.tags
            if tag.code in _KEPT_TIFF_TAGS
        ]
        compression = page.compression if page.compression != 1 else None
    tifffile.imwrite(target, pixels, compression=compression, photometric=page.photometric, extratags=kept)
    return len(found), "written again: its EXIF directory is not kept"


def repaired_dng(path: Path, target: Path, defects: Sequence[Defect], when: dt.datetime | None) -> int:
    """Write a copy of the DNG ``path`` to ``target`` with the defects active at ``when`` in a
    FixBadPixelsList opcode (and repaired in the data, when it is uncompressed); the number mapped (0:
    nothing written). Dimensions are checked against the defects' geometry by the caller."""
    from hpstore.export.dng import with_opcode

    found = [d for d in defects if d.source == Source.RAW.value and appeared(d, when)]
    points, columns, rows = by_shape(found)
    if not (points or columns or rows):
        return 0
    target.write_bytes(with_opcode(path.read_bytes(), points, columns, rows))
    return len(found)


def out_folder(out: Path, photos: Sequence[Path]) -> Path:
    """The folder for the copies; refused when it is the folder of one of the photos (or inside the
    photos' folders given as such), so that no original can be overwritten."""
    out = out.expanduser().resolve()
    for photo in photos:
        if photo.expanduser().resolve().parent == out:
            raise BadArgument(f"--out {out} holds {photo.name}: repaired copies never go into a source folder")
    return out


def target_for(out: Path, photo: Path, taken: set[str]) -> Path:
    """A name in ``out`` for the copy of ``photo``: its own, with a number added on a clash."""
    name, number = photo.name, 1
    while name.lower() in taken or (out / name).exists():
        number += 1
        name = f"{photo.stem}-{number}{photo.suffix}"
    taken.add(name.lower())
    return out / name


def fix_photo(
    path: Path, target: Path, defects: Sequence[Defect], when: dt.datetime | None, *, kind: str = "image"
) -> Fixed:
    """Repair one photo into ``target`` (``kind``: ``image`` for JPEG and PNG, ``tiff``, or ``dng``, whose
    defects must be of its geometry), reporting problems as a status rather than raising."""
    note = ""
    # Written under a temporary name and renamed when whole: an interrupted run or a full disk leaves no
    # truncated copy behind.
    partial = target.with_name(f".{target.name}.part")
    try:
        if kind == "tiff":
            count, note = repaired_tiff(path, partial, defects, when)
        else:
            count = (repaired_dng if kind == "dng" else repaired_copy)(path, partial, defects, when)
        if count:
            partial.replace(target)
    except (UnsupportedFormat, DecodeError) as err:
        return Fixed(str(path), "skipped", reason=str(err))
    except OSError as err:
        return Fixed(str(path), "skipped", reason=f"cannot read or write: {err.strerror or err}")
    finally:
        partial.unlink(missing_ok=True)
    if count == 0:
        return Fixed(str(path), "unchanged", reason="no defect of this camera active at its capture time")
    return Fixed(str(path), "fixed", str(target), count, note or None)
