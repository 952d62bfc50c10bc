"""TIFF through tifffile, with imagecodecs for every compression cameras and editors use (LZW, Deflate,
JPEG, PackBits, ZSTD, ...) and for packed 10/12/14-bit samples, which come out as 16-bit values."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import tifffile

from hpstore.errors import DecodeError, UnsupportedFormat, first_line
from hpstore.io.images import put
from hpstore.io.metadata import Facts
from hpstore.io.photo import PhotoInfo

# Most a compression can shrink a flat image: bytes of samples per byte of file (None: no useful bound).
_BEST_RATIO: dict[int, float | None] = {
    1: 1.0,  # none
    32773: 64.0,  # PackBits: 128 repeats in 2 bytes
    5: 4096.0,  # LZW: at most ~1,400 with 12-bit codes
    8: 1032.0,  # Deflate (Adobe)
    32946: 1032.0,  # Deflate (old code)
    6: 8.0 * 64 * 8,  # old-style JPEG: at least a bit per 8x8 block per sample
    7: 8.0 * 64 * 8,  # JPEG
}
_PHOTOMETRIC_OK = (0, 1, 2, 6, 32803, 34892)  # white/black is zero, RGB, YCbCr, CFA, linear raw


def _open(path: Path) -> tifffile.TiffFile:
    try:
        return tifffile.TiffFile(path)
    except (tifffile.TiffFileError, ValueError, OSError, IndexError, KeyError, struct.error) as err:
        raise DecodeError(f"cannot read TIFF header: {first_line(err)}") from err


def probe_tiff(path: Path, facts: Facts) -> tuple[PhotoInfo, float]:
    """(info, fewest bytes such a file takes) of a TIFF's first image. tifffile seeks to its directory
    wherever the file puts it."""
    with _open(path) as tif:
        page = tif.pages.first
        shape, dtype, samples = page.shape, page.dtype, page.samplesperpixel
        photometric, compression, bits = int(page.photometric), int(page.compression), page.bitspersample
    if photometric not in _PHOTOMETRIC_OK:
        kind = {3: "palette", 4: "mask", 5: "CMYK", 8: "CIELab", 9: "ICCLab", 10: "ITULab"}.get(photometric, "")
        raise UnsupportedFormat(f"unsupported TIFF colour model {kind or photometric}")
    if dtype is None or np.dtype(dtype) not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise UnsupportedFormat(f"unsupported TIFF sample type {dtype} ({bits}-bit)")
    if bits not in (8, 10, 12, 14, 16):
        raise UnsupportedFormat(f"unsupported TIFF sample size {bits} bits")
    height, width = (shape[1], shape[2]) if len(shape) == 3 and shape[0] == samples > 1 else shape[:2]
    channels = 1 if samples == 1 else 3
    info = PhotoInfo(
        "tiff",
        int(height),
        int(width),
        channels,
        np.dtype(dtype).itemsize * 8,
        white_level=float((1 << bits) - 1),
        facts=facts,
    )
    ratio = _BEST_RATIO.get(compression)
    least = info.height * info.width * samples * bits / 8 / ratio if ratio else 0.0
    return info, least


def decode_tiff(data: bytes, info: PhotoInfo, out: np.ndarray) -> None:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        array = page.asarray()
        if array.ndim == 3 and page.planarconfig == 2:  # separate planes: (sample, row, col)
            array = np.moveaxis(array, 0, -1)
    put(out, array, info)
