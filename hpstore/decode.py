"""Identify and decode photo files into arrays in sensor orientation.

``probe(path)`` reads only headers: format, geometry, camera identity and capture facts. ``decode_into``
decodes the full content into a caller-owned ``(row, col, channel)`` array: the CFA mosaic
(``raw_image_visible``) for RAW files, the stored pixel channels for JPEG, PNG and TIFF. EXIF orientation is
never applied: row 0 is the first row the camera stored.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import rawpy
import simplejpeg
import tifffile
from PIL import Image

from .errors import DecodeError, UnsupportedFormat
from .exif import ExifFacts, exif_from_head, facts_from_exif

RAW_EXTS = frozenset(
    [
        ".dng",
        ".nef",
        ".nrw",
        ".cr2",
        ".cr3",
        ".crw",
        ".arw",
        ".srf",
        ".sr2",
        ".raf",
        ".orf",
        ".rw2",
        ".pef",
        ".srw",
        ".x3f",
        ".3fr",
        ".fff",
        ".iiq",
        ".mos",
        ".mef",
        ".mrw",
        ".erf",
        ".kdc",
        ".dcr",
        ".rwl",
        ".raw",
        ".gpr",
    ]
)
RGB_EXTS = {".jpg": "jpeg", ".jpeg": "jpeg", ".jpe": "jpeg", ".png": "png", ".tif": "tiff", ".tiff": "tiff"}
HEAD_BYTES = 1 << 20  # EXIF of every format we know lies within the first MiB

Image.MAX_IMAGE_PIXELS = 400_000_000  # real sensors reach ~150 MP; refuse only absurd headers


@dataclass(frozen=True)
class PhotoInfo:
    """What a file's headers say: format, array geometry, sensor levels and EXIF facts."""

    format: str  # "jpeg" | "png" | "tiff" | "raw"
    height: int
    width: int
    channels: int
    bits: int  # 8 or 16: the container's sample size
    pattern: str | None = None  # RAW: CFA colours row-major, e.g. "RGGB" (2x2) or 36 letters (X-Trans)
    black_level: float | None = None
    white_level: float | None = None
    exif: ExifFacts = field(default_factory=ExifFacts)

    @property
    def source(self) -> str:
        """``raw`` for the CFA mosaic of a RAW file, ``rgb`` for developed images."""
        return "raw" if self.format == "raw" else "rgb"

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.channels)

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if self.bits == 8 else np.uint16

    @property
    def nbytes(self) -> int:
        return self.height * self.width * self.channels * (self.bits // 8)


def sniff(path: Path, head: bytes) -> str:
    """The format a file really holds, from its first bytes (and its extension for RAW)."""
    ext = path.suffix.lower()
    claimed = "raw" if ext in RAW_EXTS else RGB_EXTS.get(ext)
    if not head:
        if claimed:
            raise DecodeError("empty file (0 bytes)")
        raise UnsupportedFormat("unsupported format (empty file)")
    if head.startswith(b"\xff\xd8\xff"):
        found = "jpeg"
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        found = "png"
    elif head[:4] in (b"II*\x00", b"MM\x00*"):
        found = "raw" if claimed == "raw" else "tiff"
    else:
        found = "raw" if claimed == "raw" else ""  # LibRaw knows the many RAW containers; let it decide
    if found:
        return found
    if claimed:
        raise DecodeError(f"not a {claimed.upper()} file: content does not start like one")
    raise UnsupportedFormat(f"unsupported format ({ext or 'no extension'})")


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError as err:
        raise DecodeError(f"cannot read: {err.strerror or err}") from err


def probe(path: Path) -> PhotoInfo:
    """Identify a file from its headers without decoding its pixels."""
    head = read_head(path)
    fmt = sniff(path, head)
    try:
        if fmt == "raw":
            return _probe_raw(path, head)
        if fmt == "tiff":
            return _probe_tiff(head)
        return _probe_pillow(head, fmt)
    except DecodeError:
        raise
    except Exception as err:
        raise DecodeError(f"cannot read {fmt.upper()} header: {_why(err)}") from err


def _why(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else err.__class__.__name__


def _probe_pillow(head: bytes, fmt: str) -> PhotoInfo:
    with Image.open(io.BytesIO(head)) as im:
        mode, (width, height) = im.mode, im.size
        facts = facts_from_exif(im.getexif())
    if fmt == "jpeg" and mode not in ("L", "RGB"):
        raise DecodeError(f"unsupported JPEG colour mode {mode}")
    channels = 1 if mode in ("L", "I;16", "I;16B", "1", "LA") else 3
    bits = 16 if mode.startswith("I;16") else 8
    return PhotoInfo(fmt, height, width, channels, bits, exif=facts)


def _probe_tiff(head: bytes) -> PhotoInfo:
    # The head may cut the pixel data short; tifffile only needs the first directory here.
    with tifffile.TiffFile(io.BytesIO(head)) as tif:
        page = tif.pages.first
        shape, dtype, samples = page.shape, page.dtype, page.samplesperpixel
    if dtype not in (np.uint8, np.uint16):
        raise DecodeError(f"unsupported TIFF sample type {dtype}")
    height, width = (shape[1], shape[2]) if len(shape) == 3 and shape[0] == samples > 1 else shape[:2]
    exif = exif_from_head(head)
    facts = facts_from_exif(exif) if exif is not None else ExifFacts()
    return PhotoInfo("tiff", int(height), int(width), 1 if samples == 1 else 3, dtype.itemsize * 8, exif=facts)


def _open_raw(path: Path, data: bytes | None = None) -> rawpy.RawPy:
    if data is not None:
        return rawpy.imread(io.BytesIO(data))
    try:
        return rawpy.imread(os.fsdecode(path))
    except UnicodeEncodeError:  # a non-UTF-8 file name LibRaw cannot take: hand it the bytes instead
        return rawpy.imread(io.BytesIO(path.read_bytes()))


def _probe_raw(path: Path, head: bytes) -> PhotoInfo:
    try:
        raw = _open_raw(path)
    except (rawpy.LibRawError, OSError) as err:
        raise DecodeError(f"LibRaw cannot open it: {_why(err)}") from err
    with raw:
        pattern_idx = raw.raw_pattern
        if pattern_idx is None or raw.num_colors < 3:
            raise DecodeError("not a colour-filter-array RAW (linear or Foveon data is not supported)")
        letters = raw.color_desc.decode("ascii", "replace")
        pattern = "".join(letters[i] for i in pattern_idx.reshape(-1))
        sizes = raw.sizes
        other = raw.other
        black = float(np.mean(raw.black_level_per_channel))
        white = float(raw.white_level)
    exif = exif_from_head(head)
    facts = facts_from_exif(exif) if exif is not None else ExifFacts()
    # LibRaw normalises exposure, ISO and time across makers; prefer its values.
    facts = replace(
        facts,
        exposure_time=float(other.shutter_speed) or facts.exposure_time,
        iso=float(other.iso_speed) or facts.iso,
        capture_time=facts.capture_time or (other.timestamp if other.timestamp.year > 1970 else None),
    )
    return PhotoInfo("raw", sizes.height, sizes.width, 1, 16, pattern, black, white, facts)


def decode_into(data: bytes, info: PhotoInfo, out: np.ndarray) -> None:
    """Decode a file's full content into ``out`` (shape ``info.shape``, dtype ``info.dtype``).

    Raises ``DecodeError`` when the content is damaged or no longer matches what ``probe`` saw.
    """
    try:
        if info.format == "jpeg":
            _decode_jpeg(data, info, out)
        elif info.format == "raw":
            with _open_raw(Path(), data) as raw:
                _put(out, raw.raw_image_visible, info)
        elif info.format == "tiff":
            _put(out, _tiff_array(data, info), info)
        else:
            with Image.open(io.BytesIO(data)) as im:
                _put(out, _pillow_array(im, info), info)
    except DecodeError:
        raise
    except Exception as err:
        raise DecodeError(f"cannot decode {info.format.upper()}: {_why(err)}") from err


def _decode_jpeg(data: bytes, info: PhotoInfo, out: np.ndarray) -> None:
    height, width, _, _ = simplejpeg.decode_jpeg_header(data)
    if (height, width) != (info.height, info.width):
        raise DecodeError("file changed while ingesting (new size)")
    simplejpeg.decode_jpeg(data, colorspace="GRAY" if info.channels == 1 else "RGB", buffer=out)


def _tiff_array(data: bytes, info: PhotoInfo) -> np.ndarray:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages.first
        array = page.asarray()
        if array.ndim == 3 and page.planarconfig == 2:  # separate planes: (sample, row, col)
            array = np.moveaxis(array, 0, -1)
    return array


def _pillow_array(im: Image.Image, info: PhotoInfo) -> np.ndarray:
    if info.channels == 3 and im.mode != "RGB":
        im = im.convert("RGB")  # palette or RGBA: the colour channels as displayed
    elif info.channels == 1 and im.mode in ("1", "LA", "P"):
        im = im.convert("L")
    return np.asarray(im)


def _put(out: np.ndarray, array: np.ndarray, info: PhotoInfo) -> None:
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[:2] != (info.height, info.width):
        raise DecodeError(f"pixel array {array.shape[:2]} does not match the header {info.height}x{info.width}")
    out[...] = array[:, :, : info.channels]
