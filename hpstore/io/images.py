"""JPEG (simplejpeg, which releases the GIL) and PNG (Pillow): the stored pixel channels."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image

from hpstore.errors import DecodeError
from hpstore.io.metadata import Facts
from hpstore.io.photo import MAX_PIXELS, PhotoInfo

# Pillow warns above this and refuses twice it; hpstore refuses more itself (photo.check_claim).
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_SOF_ARITHMETIC = {0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# libjpeg warnings that leave every pixel intact (stray bytes between segments, a broken ICC profile);
# the others (a truncated file, a bad Huffman code) leave grey or garbage where pixels should be.
_HARMLESS = ("extraneous bytes before marker", "bad ICC marker")


def probe_image(path: Path, fmt: str, facts: Facts) -> tuple[PhotoInfo, float]:
    """(info, fewest bytes a file of that geometry takes) of a JPEG or PNG, from its header."""
    with Image.open(path) as im:
        mode, (width, height) = im.mode, im.size
    if fmt == "jpeg" and mode not in ("L", "RGB"):
        raise DecodeError(f"unsupported JPEG colour mode {mode}")
    channels = 1 if mode in ("L", "I;16", "I;16B", "1", "LA") else 3
    bits = 16 if mode.startswith("I;16") else 8
    info = PhotoInfo(fmt, height, width, channels, bits, facts=facts)
    return info, _least_bytes(path, info)


def _least_bytes(path: Path, info: PhotoInfo) -> float:
    pixels = info.height * info.width
    if info.format == "png":
        # Deflate expands at most 1032 times; each row also carries a filter byte.
        return info.height * (1 + info.width * info.channels * info.bits // 8) / 1032
    if _jpeg_frame_marker(path) in _SOF_ARITHMETIC:
        return 0.0  # arithmetic coding can spend far less than a bit on a flat 8x8 block
    # Huffman coding spends at least one bit on every 8x8 block's DC difference, even in progressive scans.
    return pixels / 64 / 8


def _jpeg_frame_marker(path: Path) -> int | None:
    """The SOFn marker of a JPEG (0xC0..0xCF), found by hopping from segment header to segment header."""
    with open(path, "rb") as fh:
        fh.seek(2)
        for _ in range(1000):  # far more segments than any camera writes before its frame header
            header = fh.read(4)
            if len(header) < 4 or header[0] != 0xFF:
                return None
            marker = header[1]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return marker
            fh.seek(int.from_bytes(header[2:4], "big") - 2, 1)
    return None


def decode_image(data: bytes, info: PhotoInfo, out: np.ndarray) -> None:
    if info.format == "jpeg":
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
            if (height, width) != (info.height, info.width):
                raise DecodeError("file changed while ingesting (new size)")
            simplejpeg.decode_jpeg(data, colorspace="GRAY" if info.channels == 1 else "RGB", buffer=out)
            return
        except ValueError as err:
            if not any(text in str(err) for text in _HARMLESS):
                raise
        # simplejpeg refuses these even with strict=False; Pillow's libjpeg decodes past them.
    with Image.open(io.BytesIO(data)) as opened:
        im: Image.Image = opened
        if info.channels == 3 and im.mode != "RGB":
            im = im.convert("RGB")  # palette or RGBA: the colour channels as displayed
        elif info.channels == 1 and im.mode in ("1", "LA", "P"):
            im = im.convert("L")
        put(out, np.asarray(im), info)


def put(out: np.ndarray, array: np.ndarray, info: PhotoInfo) -> None:
    """Copy a decoded ``array`` (rows, cols[, channels]) into ``out``, checking it against the header."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[:2] != (info.height, info.width):
        raise DecodeError(f"pixel array {array.shape[:2]} does not match the header {info.height}x{info.width}")
    out[...] = array[:, :, : info.channels]
