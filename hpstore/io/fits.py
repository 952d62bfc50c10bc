"""FITS, what astronomy cameras and capture programs write, through ``astropy.io.fits``.

A frame is sensor data (source ``raw``): 8- or 16-bit integers (16-bit unsigned as BZERO = 32768), one
plane, monochrome or a CFA mosaic when ``BAYERPAT`` says so. Frames some programs save as signed, 32-bit or
floating-point numbers are taken when every value is a whole number of 0..65535 (sensor counts).
Identity comes from ``INSTRUME`` and a serial keyword where present; exposure from ``EXPTIME``/``EXPOSURE``,
capture time from ``DATE-OBS``, sensor temperature from ``CCD-TEMP``, the frame type from ``IMAGETYP``.
astropy is imported on the first FITS file only: it takes a second to import.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hpstore.errors import DecodeError, UnsupportedFormat, first_line
from hpstore.io.images import put
from hpstore.io.metadata import Facts, normalise_serial
from hpstore.io.photo import PhotoInfo

if TYPE_CHECKING:
    from astropy.io.fits import Header

FITS_EXTS = frozenset([".fits", ".fit", ".fts", ".fz"])
SERIAL_KEYWORDS = ("SERIALNO", "SERIAL", "CAMSERNO", "CAMSERIA", "CAM-SN", "CAMSN", "CCD_SERN", "DETSERNO", "SN")
TEMPERATURE_KEYWORDS = ("CCD-TEMP", "CCD_TEMP", "CCDTEMP", "DET-TEMP", "SENSTEMP", "SET-TEMP")
TYPE_KEYWORDS = ("IMAGETYP", "FRAMETYP", "FRAME", "IMGTYPE", "OBSTYPE")
_TYPES = (("dark", "dark"), ("bias", "bias"), ("zero", "bias"), ("offset", "bias"), ("flat", "flat"))
_TYPES_LIGHT = ("light", "object", "science")


def _fits() -> Any:
    from astropy import log
    from astropy.io import fits

    # astropy's logger writes to stderr itself; send its records through logging like everyone else's.
    for handler in list(log.handlers):
        log.removeHandler(handler)
    log.propagate = True
    log.setLevel(logging.DEBUG)
    return fits


def _open(source: Path | bytes) -> Any:
    fits = _fits()
    handle = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    try:
        return fits.open(handle, memmap=False, lazy_load_hdus=False, ignore_missing_simple=False)
    except Exception as err:  # astropy raises OSError, ValueError, VerifyError... for damaged headers
        handle.close()
        raise DecodeError(f"cannot read FITS header: {first_line(err)}") from err


def _image_hdu(hdus: Any) -> tuple[int, Any]:
    """The first HDU holding an image (the primary one, or an extension such as a tile-compressed frame)."""
    for index, hdu in enumerate(hdus):
        if hdu.header.get("NAXIS", 0) >= 2 and hdu.is_image:
            return index, hdu
    raise DecodeError("FITS file holds no image")


def probe_fits(path: Path) -> tuple[PhotoInfo, float]:
    """(info, bytes the data needs) of a FITS file's first image."""
    with _open(path) as hdus:
        index, hdu = _image_hdu(hdus)
        header = hdu.header.copy()  # a tile-compressed frame's header is that of its image
        compressed = type(hdu).__name__ == "CompImageHDU"
    bitpix, naxis = int(header["BITPIX"]), int(header["NAXIS"])
    width, height = int(header["NAXIS1"]), int(header["NAXIS2"])
    if naxis > 2 and any(int(header.get(f"NAXIS{k}", 1)) > 1 for k in range(3, naxis + 1)):
        raise UnsupportedFormat("FITS image with more than one plane (colour or a cube) is not supported")
    zero, scale = float(header.get("BZERO", 0)), float(header.get("BSCALE", 1))
    if bitpix not in (8, 16, 32, -32, -64):
        raise UnsupportedFormat(f"unsupported FITS data: BITPIX {bitpix}")
    native = scale == 1 and ((bitpix == 8 and not zero) or (bitpix == 16 and zero == 32768))
    bits = 8 if bitpix == 8 and native else 16
    info = PhotoInfo(
        "fits",
        height,
        width,
        1,
        bits,
        pattern=_pattern(header, height),
        black_level=0.0,
        white_level=float((1 << bits) - 1),
        facts=facts_from_header(header),
        index=index,
    )
    return info, 0.0 if compressed else height * width * bits / 8


def _pattern(header: Header, height: int) -> str | None:
    """The CFA colours in stored row order, or None for a monochrome sensor.

    ``BAYERPAT`` describes the image read top-down; ``XBAYROFF``/``YBAYROFF`` shift it. A frame stored
    ``BOTTOM-UP`` (``ROWORDER``, the FITS convention) has its first stored row at the bottom of that image.
    """
    text = str(header.get("BAYERPAT", "") or "").strip().upper()
    if len(text) != 4 or set(text) - set("RGB"):
        return None
    x_off, y_off = int(header.get("XBAYROFF", 0) or 0), int(header.get("YBAYROFF", 0) or 0)
    if str(header.get("ROWORDER", "")).strip().upper() == "BOTTOM-UP":
        y_off += height - 1
        rows = [text[2 * ((y_off - r) % 2) : 2 * ((y_off - r) % 2) + 2] for r in range(2)]
    else:
        rows = [text[2 * ((y_off + r) % 2) : 2 * ((y_off + r) % 2) + 2] for r in range(2)]
    return "".join(row[x_off % 2 :] + row[: x_off % 2] for row in rows)


def facts_from_header(header: Header) -> Facts:
    """Identity, capture time, exposure, sensor temperature and frame type from FITS keywords."""

    def text(*keys: str) -> str | None:
        for key in keys:
            value = header.get(key)
            if value is not None and str(value).strip():
                return str(value).strip()
        return None

    def number(*keys: str) -> float | None:
        for key in keys:
            try:
                return float(header[key])
            except (KeyError, TypeError, ValueError):
                continue
        return None

    exposure = number("EXPTIME", "EXPOSURE")
    return Facts(
        model=text("INSTRUME"),
        serial=normalise_serial(text(*SERIAL_KEYWORDS)),
        capture_time=_date(text("DATE-OBS"), text("TIME-OBS", "UT")),
        exposure_time=exposure if exposure and exposure > 0 else None,
        iso=None,
        temperature=number(*TEMPERATURE_KEYWORDS),
        frame_type=_frame_type(text(*TYPE_KEYWORDS)),
        pixels_per_mm=_pixels_per_mm(number("XPIXSZ", "PIXSIZE1"), number("YPIXSZ", "PIXSIZE2")),
    )


def _date(date: str | None, time: str | None) -> dt.datetime | None:
    if not date:
        return None
    if "T" not in date and time:
        date = f"{date}T{time}"
    try:
        return dt.datetime.fromisoformat(date.rstrip("Z")[:26]).replace(tzinfo=None)
    except ValueError:
        return None


def _frame_type(value: str | None) -> str | None:
    if not value:
        return None
    word = value.lower()
    for needle, kind in _TYPES:
        if needle in word:
            return kind
    return "light" if any(w in word for w in _TYPES_LIGHT) else None


def _pixels_per_mm(x_um: float | None, y_um: float | None) -> tuple[float, float] | None:
    if not x_um or x_um <= 0:
        return None
    return (1000.0 / x_um, 1000.0 / (y_um if y_um and y_um > 0 else x_um))


def decode_fits(data: bytes, info: PhotoInfo, out: np.ndarray) -> None:
    try:
        with _open(data) as hdus:
            array = np.asarray(hdus[info.index].data)
    except DecodeError:
        raise
    except Exception as err:
        raise DecodeError(f"cannot read FITS data: {first_line(err)}") from err
    if array.dtype != out.dtype:
        array = _as_counts(array, out.dtype)
    put(out, array, info)


def _as_counts(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Sensor counts stored in another type (signed 16-bit without BZERO, 32-bit, or floats holding whole
    numbers, as some programs save raw frames) as ``dtype``; anything else is not a raw frame."""
    limit = np.iinfo(dtype).max
    if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > limit):
        raise DecodeError(f"FITS data outside 0..{limit}: not raw sensor counts")
    if array.dtype.kind == "f" and not (np.isfinite(array).all() and (array == np.round(array)).all()):
        raise DecodeError("FITS data are not whole numbers: a processed image, not raw sensor counts")
    return array.astype(dtype)
