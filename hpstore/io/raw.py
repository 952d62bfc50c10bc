"""RAW files through LibRaw (rawpy): the CFA mosaic ``raw_image_visible``, one value per photosite."""

from __future__ import annotations

import datetime as dt
import io
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import rawpy

from hpstore.errors import DecodeError, first_line
from hpstore.io.images import put
from hpstore.io.metadata import Facts
from hpstore.io.photo import PhotoInfo


def _open(path: Path | None, data: bytes | None = None) -> rawpy.RawPy:
    if data is not None:
        return rawpy.imread(io.BytesIO(data))
    assert path is not None
    try:
        return rawpy.imread(os.fsdecode(path))
    except UnicodeEncodeError:  # a non-UTF-8 file name LibRaw cannot take: hand it the bytes instead
        return rawpy.imread(io.BytesIO(path.read_bytes()))


def probe_raw(path: Path, facts: Facts) -> tuple[PhotoInfo, float]:
    """(info, fewest bytes such a file takes) of a RAW file; ``facts`` from its metadata, completed with
    LibRaw's exposure, ISO and capture time where the metadata lacks them."""
    try:
        raw = _open(path)
    except (rawpy.LibRawError, OSError) as err:
        raise DecodeError(f"LibRaw cannot open it: {first_line(err)}") from err
    with raw:
        pattern_idx = raw.raw_pattern
        if pattern_idx is None or raw.num_colors < 3:
            raise DecodeError("not a colour-filter-array RAW (linear or Foveon data is not supported)")
        letters = raw.color_desc.decode("ascii", "replace")
        pattern = "".join(letters[i] for i in pattern_idx.reshape(-1))
        sizes = raw.sizes
        other = raw.other
        levels = np.asarray(raw.black_level_per_channel, np.float64)
        black = float(levels.mean()) if levels.size else 0.0
        white = float(raw.white_level)
    stamp = other.timestamp if isinstance(other.timestamp, dt.datetime) and other.timestamp.year > 1970 else None
    facts = replace(
        facts,
        exposure_time=facts.exposure_time or (float(other.shutter_speed) or None),
        iso=facts.iso or (float(other.iso_speed) or None),
        capture_time=facts.capture_time or stamp,
    )
    info = PhotoInfo("raw", sizes.height, sizes.width, 1, 16, pattern, black, white, facts)
    # Even lossless-JPEG or lossy RAW spends more than a bit per 8x8 block on sensor noise.
    return info, sizes.raw_height * sizes.raw_width / 512


def decode_raw(data: bytes, info: PhotoInfo, out: np.ndarray) -> None:
    with _open(None, data) as raw:
        put(out, raw.raw_image_visible, info)
