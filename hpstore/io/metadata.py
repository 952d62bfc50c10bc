"""Camera identity and capture facts, read with libexiv2 (the ``exiv2`` Python binding).

Why libexiv2: it is the metadata library behind digiKam and gThumb, reads the MakerNotes of every major maker
(where many bodies keep their serial number), finds TIFF directories wherever a file puts them (some DNG
writers put IFD0 after the image data), reads JPEG, TIFF, PNG, the TIFF-based RAW formats, CR3 and HEIF, and
takes about 0.5 ms per JPEG. Its log messages are silenced here: a file it cannot read yields no facts, and
the decoders say what is wrong with it.

Identity rules (see :func:`body_serial`): the body serial comes from EXIF ``BodySerialNumber``, then DNG
``CameraSerialNumber``, then the maker's own tag, normalised so that every file of one body gives the same
text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import exiv2

exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)

FRAME_TYPES = ("light", "dark", "flat", "bias")


@dataclass(frozen=True)
class Facts:
    """What hpstore needs to know about a photo besides its pixels; every field may be missing.

    ``capture_time`` is naive local time, as cameras record it. ``exposure_time`` is in seconds.
    ``temperature`` is the sensor's (or the camera body's) temperature in degrees Celsius where the file
    records one. ``frame_type`` is one of :data:`FRAME_TYPES` where the file says (FITS ``IMAGETYP``).
    ``pixels_per_mm`` is the focal-plane resolution (x, y): with the array size, the sensor's size in mm.
    """

    make: str | None = None
    model: str | None = None
    serial: str | None = None
    capture_time: dt.datetime | None = None
    exposure_time: float | None = None
    iso: float | None = None
    orientation: int | None = None
    pixels_per_mm: tuple[float, float] | None = None
    temperature: float | None = None
    frame_type: str | None = None


# The body serial, in this order: the EXIF 2.3 tag, the DNG tag, then each maker's MakerNote tags (a file
# holds one maker's), then what Adobe software copies into XMP. Lens, flash and accessory serials never count.
SERIAL_KEYS = (
    "Exif.Photo.BodySerialNumber",
    "Exif.Image.CameraSerialNumber",
    "Exif.Nikon3.SerialNumber",
    "Exif.Nikon3.SerialNO",
    "Exif.Canon.SerialNumber",
    "Exif.Canon.InternalSerialNumber",
    "Exif.Sony1.SerialNumber",
    "Exif.Sony2.SerialNumber",
    "Exif.Fujifilm.SerialNumber",
    "Exif.OlympusEq.SerialNumber",
    "Exif.Olympus.SerialNumber2",
    "Exif.Olympus2.SerialNumber2",
    "Exif.OlympusEq.InternalSerialNumber",
    "Exif.Pentax.SerialNumber",
    "Exif.PentaxDng.SerialNumber",
    "Exif.Pentax.CameraInfo",  # older Pentax bodies: the 5th number is the serial (see _pentax_serial)
    "Exif.PentaxDng.CameraInfo",
    "Exif.Panasonic.InternalSerialNumber",  # also Leica's Panasonic-built bodies
    "Exif.Samsung2.SerialNumber",
    "Exif.Sigma.SerialNumber",
    "Xmp.exifEX.BodySerialNumber",
    "Xmp.aux.SerialNumber",
)

_TEXT_KEYS = frozenset(SERIAL_KEYS) | {
    "Exif.Image.Make",
    "Exif.Image.Model",
    "Exif.Photo.DateTimeOriginal",
    "Exif.Image.DateTimeOriginal",
    "Exif.Image.DateTime",
}
_NOT_BODY = re.compile(r"lens|flash|extender|accessory", re.IGNORECASE)
_SERIAL_PREFIX = re.compile(r"^\s*(?:NO\s*=|S/?N\s*[:=]?|SERIAL\s*(?:NO|NUMBER)?\s*[:=])", re.IGNORECASE)


def normalise_serial(value: object) -> str | None:
    """One text per body, whatever the file type: no ``NO=`` prefix, no spaces, nothing from the first NUL
    on (padding), no leading zeros in an all-digit serial (a MakerNote's number and a DNG's text of the
    same body then agree). Empty or all-zero serials (placeholders) are no serial."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    text = text.strip("\x00 ").split("\x00")[0]  # a C string: what follows its end is padding
    text = _SERIAL_PREFIX.sub("", text)
    text = "".join(ch for ch in text if ch.isprintable() and not ch.isspace())
    if text.isdigit():
        text = text.lstrip("0")
    return text or None


def _pentax_serial(camera_info: str | None) -> str | None:
    """Pentax's CameraInfo is five numbers: model id, manufacture date, two production codes, serial."""
    numbers = (camera_info or "").split()
    return numbers[4] if len(numbers) == 5 else None


def body_serial(values: Mapping[str, str]) -> str | None:
    """The body serial from metadata ``values`` keyed like ``Exif.Photo.BodySerialNumber``, by
    :data:`SERIAL_KEYS`' order; then any other MakerNote tag named like a body serial."""
    for key in SERIAL_KEYS:
        value = values.get(key)
        serial = normalise_serial(_pentax_serial(value) if key.endswith(".CameraInfo") else value)
        if serial:
            return serial
    for key, value in values.items():
        family, group, name = [*key.split("."), "", ""][:3]
        maker = family == "Exif" and group not in ("Image", "Photo")
        if maker and "Serial" in name and not _NOT_BODY.search(name):
            serial = normalise_serial(value)
            if serial:
                return serial
    return None


def read_facts(path: Path, data: bytes | None = None) -> Facts:
    """The facts libexiv2 finds in a file (``data``: its content, when already read); empty ``Facts`` when
    it cannot read the file at all (an unknown or damaged format)."""
    try:
        image = exiv2.ImageFactory.open(data if data is not None else _exiv2_path(path))
        image.readMetadata()
    except (exiv2.Exiv2Error, OSError, UnicodeEncodeError, ValueError):
        if data is None and _needs_bytes(path):
            try:
                return read_facts(path, path.read_bytes())
            except OSError:
                return Facts()
        return Facts()
    exif = image.exifData()
    values: dict[str, str] = {}  # as text: only what identity needs (a MakerNote holds hundreds of tags)
    numbers: dict[str, Any] = {}
    for datum in exif:
        key = datum.key()
        if key in numbers:
            continue  # the first of a repeated tag: IFD0 before the sub-IFDs and previews
        numbers[key] = datum
        if key in _TEXT_KEYS or "Serial" in key:
            values[key] = _safe_text(datum)
    for datum in image.xmpData():
        if datum.key() in _TEXT_KEYS:
            values.setdefault(datum.key(), _safe_text(datum))
    facts = _facts(values, numbers, exif)
    del numbers, exif, image  # the exiv2 data die with their image
    return facts


def _exiv2_path(path: Path) -> str:
    text = str(path)
    text.encode("utf-8")  # a name with undecodable bytes (surrogate escapes): read the bytes instead
    return text


def _needs_bytes(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _safe_text(datum: Any) -> str:
    """A datum as text; bytes (Undefined or Byte types, as Panasonic's serial is) as the characters they
    hold, not as exiv2's list of numbers."""
    try:
        text = str(datum.toString())
        if datum.typeName() in ("Undefined", "Byte"):
            codes = [int(token) for token in text.split()]
            if codes and all(0 <= code < 256 for code in codes):
                return bytes(codes).decode("latin-1")
        return text
    except (exiv2.Exiv2Error, UnicodeDecodeError, ValueError):
        return ""


def _facts(values: dict[str, str], numbers: dict[str, Any], exif: Any) -> Facts:
    def number(*keys: str) -> float | None:
        for key in keys:
            datum = numbers.get(key)
            value = _positive(datum) if datum is not None else None
            if value is not None:
                return value
        return None

    make = _text(values.get("Exif.Image.Make"))
    model = _text(values.get("Exif.Image.Model"))
    if make and model and model.lower().startswith(make.lower() + " "):
        model = model[len(make) + 1 :]  # "Canon Canon EOS R5" -> "EOS R5"
    x = number("Exif.Photo.FocalPlaneXResolution", "Exif.Image.FocalPlaneXResolution")
    y = number("Exif.Photo.FocalPlaneYResolution", "Exif.Image.FocalPlaneYResolution")
    unit_code = number("Exif.Photo.FocalPlaneResolutionUnit", "Exif.Image.FocalPlaneResolutionUnit")
    unit = _UNIT_MM.get(int(unit_code or 2))
    orientation = number("Exif.Image.Orientation")
    return Facts(
        make=make,
        model=model,
        serial=body_serial(values),
        capture_time=_time(
            values.get("Exif.Photo.DateTimeOriginal")
            or values.get("Exif.Image.DateTimeOriginal")
            or values.get("Exif.Image.DateTime")
        ),
        exposure_time=number("Exif.Photo.ExposureTime", "Exif.Image.ExposureTime"),
        iso=_iso(number, exif),
        orientation=int(orientation) if orientation else None,
        pixels_per_mm=(x / unit, (y or x) / unit) if x and unit else None,
        temperature=_temperature(numbers),
    )


_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}  # FocalPlaneResolutionUnit: inch (default), cm, mm, um


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.replace("\x00", " ").strip()
    return text or None


def _time(value: str | None) -> dt.datetime | None:
    text = _text(value)
    if not text:
        return None
    try:
        return dt.datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _iso(number: Callable[..., float | None], exif: Any) -> float | None:
    """ISO from the standard tags; 65535 means "higher than a SHORT holds", then the EXIF 2.3 tags; then
    libexiv2's per-maker lookup (Nikon and others keep ISO only in their MakerNote)."""
    iso = number("Exif.Photo.ISOSpeedRatings", "Exif.Image.ISOSpeedRatings")
    if iso is not None and iso < 65535:
        return iso
    better = number("Exif.Photo.ISOSpeed", "Exif.Photo.RecommendedExposureIndex")
    if better is not None:
        return better
    try:
        found = exiv2.isoSpeed(exif)  # the datum, or None (never compare with exif.end(): it crashes)
    except exiv2.Exiv2Error:
        found = None
    value = _positive(found) if found is not None else None
    return value if value is not None and value < 1e7 else iso


def _positive(datum: Any) -> float | None:
    """The first positive value of a datum (Nikon's ISOSpeed is "0 400"), exact for rationals."""
    try:
        for at in range(datum.count()):
            numerator, denominator = datum.toRational(at)
            value = numerator / denominator if denominator else float(datum.toFloat(at))
            if value > 0 and value == value:  # not NaN
                return value
    except (exiv2.Exiv2Error, ValueError, OverflowError, ZeroDivisionError):
        return None
    return None


# Sensor or body temperature in MakerNotes, with each maker's encoding to degrees Celsius.
_TEMPERATURES: tuple[tuple[str, Callable[[float], float | None]], ...] = (
    ("Exif.CanonSi.CameraTemperature", lambda v: v - 128 if v else None),  # 0: not recorded
    ("Exif.Pentax.Temperature", lambda v: v),
    ("Exif.PentaxDng.Temperature", lambda v: v),
    ("Exif.SonyMisc1.CameraTemperature", lambda v: v),
    ("Exif.Samsung2.CameraTemperature", lambda v: v),
)


def _temperature(numbers: dict[str, Any]) -> float | None:
    for key, convert in _TEMPERATURES:
        datum = numbers.get(key)
        if datum is None:
            continue
        try:
            celsius = convert(float(datum.toFloat(0)))
        except (exiv2.Exiv2Error, ValueError, OverflowError):
            continue
        if celsius is not None and -60.0 <= celsius <= 100.0:
            return celsius
    return None
