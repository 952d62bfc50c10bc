"""Defect maps in the formats of the programs photographers use, from a ranking's entries.

Every sensor map is in the coordinates of the stored RAW array, LibRaw's ``raw_image_visible``: the mosaic
without its masked margins, ``row`` from the top and ``col`` from the left, from 0, EXIF orientation not
applied. These are dcraw's own coordinates (``dcraw -D`` writes exactly that array, and ``-P`` reads ``col
row time`` in it); the other formats are converted from them where their origin differs.

A bad column (row) becomes every photosite of it where a format lists points only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hpstore.errors import BadArgument
from hpstore.types import Defect


@dataclass(frozen=True)
class Sensor:
    """What a map needs to know of the sensor: the stored array's size and the camera's names."""

    width: int
    height: int
    make: str
    model: str


def unix_time(when: dt.datetime | None) -> int:
    """A capture time as dcraw compares it: dcraw reads the photo's EXIF time as local time (``mktime``),
    so the map's time is the defect's first sighting read the same way. 0 (before every photo) when the
    defect is undated."""
    if when is None:
        return 0
    if when.tzinfo is not None:
        return int(when.timestamp())
    return int(time.mktime(when.timetuple()))


def points(defect: Defect, sensor: Sensor) -> Iterator[tuple[int, int]]:
    """The (row, col) photosites of a defect: one, or every one of its bad column or row."""
    if defect.row is not None and defect.col is not None:
        yield defect.row, defect.col
    elif defect.col is not None:
        yield from ((row, defect.col) for row in range(sensor.height))
    elif defect.row is not None:
        yield from ((defect.row, col) for col in range(sensor.width))


def by_shape(defects: Sequence[Defect]) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """The defects as (row, col) photosites, whole columns and whole rows."""
    points = [(d.row, d.col) for d in defects if d.row is not None and d.col is not None]
    columns = [d.col for d in defects if d.row is None and d.col is not None]
    rows = [d.row for d in defects if d.col is None and d.row is not None]
    return points, columns, rows


def dcraw(defects: Sequence[Defect], sensor: Sensor) -> str:
    """dcraw's and LibRaw's bad pixel file (``dcraw -P FILE``, LibRaw's ``bad_pixels``): ``col row time``
    per photosite, time the defect's first sighting as a Unix time, so that each is mapped out of the photos
    taken from its onset on (dcraw skips a line whose time is after the photo's)."""
    lines = [
        f"# hpstore defect map: {sensor.make} {sensor.model}, {sensor.width}x{sensor.height} photosites",
        "# col row unix_time_of_first_sighting",
    ]
    for defect in defects:
        when = unix_time(defect.first_seen)
        lines.append(f"# {defect.kind} score {defect.score:.1f} first seen {_iso(defect.first_seen)}")
        lines += [f"{col} {row} {when}" for row, col in points(defect, sensor)]
    return "\n".join(lines) + "\n"


# LibRaw's names of the makers whose EXIF Make differs (RawTherapee names its files after LibRaw's).
_MAKERS = {
    "nikon corporation": "Nikon", "nikon": "Nikon", "canon": "Canon", "sony": "Sony", "fujifilm": "Fujifilm",
    "olympus imaging corp.": "Olympus", "olympus corporation": "Olympus", "olympus": "Olympus",
    "om digital solutions": "OM Digital Solutions", "panasonic": "Panasonic", "pentax": "Pentax",
    "pentax corporation": "Pentax", "ricoh imaging company, ltd.": "Pentax", "leica camera ag": "Leica",
    "leica": "Leica", "samsung": "Samsung", "samsung techwin": "Samsung", "hasselblad": "Hasselblad",
    "eastman kodak company": "Kodak", "kodak": "Kodak", "minolta co., ltd.": "Minolta",
    "konica minolta camera, inc.": "Minolta", "sigma": "Sigma", "phase one": "Phase One",
}  # fmt: skip


def libraw_names(make: str, model: str) -> tuple[str, str]:
    """The camera's make and model as LibRaw normalises them ("NIKON CORPORATION", "NIKON D850" -> "Nikon",
    "D850"): the maker's short name, and the model without the maker's name in front."""
    maker = _MAKERS.get(make.strip().lower(), make.strip())
    name = model.strip()
    for prefix in {make.strip(), maker, make.strip().split(" ")[0]}:
        if prefix and name.lower().startswith(prefix.lower() + " "):
            name = name[len(prefix) + 1 :].strip()
    return maker, name


def rawtherapee(defects: Sequence[Defect], sensor: Sensor) -> str:
    """RawTherapee's ``<Make> <Model>.badpixels`` file (see :func:`rawtherapee_name`): ``x y`` per
    photosite, column first, in the RAW image without its masked margins; RawTherapee lists no whole columns,
    so a bad column lists each photosite. RawTherapee maps them out of every photo of the camera (the file
    has no dates): export with ``until`` to map only what had appeared by a date."""
    lines = [f"# hpstore defect map: {sensor.make} {sensor.model}, {sensor.width}x{sensor.height}", "# x y"]
    for defect in defects:
        lines.append(f"# {defect.kind} score {defect.score:.1f} first seen {_iso(defect.first_seen)}")
        lines += [f"{col} {row}" for row, col in points(defect, sensor)]
    return "\n".join(lines) + "\n"


def siril(defects: Sequence[Defect], sensor: Sensor) -> str:
    """The list Siril's ``cosme_cfa`` (``cosme`` on developed images) reads: ``P x y H`` for a bright
    photosite, ``P x y C`` for a dark one, ``C x 0`` for a bad column and ``L y 0`` for a bad row, from 0 and
    ``y`` counted from the top (Siril turns it into its bottom-up rows itself). No blank lines: Siril refuses
    them."""
    lines = [f"# hpstore defect map: {sensor.make} {sensor.model}, {sensor.width}x{sensor.height}"]
    for defect in defects:
        lines.append(f"# {defect.kind} score {defect.score:.1f} first seen {_iso(defect.first_seen)}")
        if defect.row is not None and defect.col is not None:
            lines.append(f"P {defect.col} {defect.row} {'C' if defect.z_mean < 0 else 'H'}")
        elif defect.col is not None:
            lines.append(f"C {defect.col} 0")
        elif defect.row is not None:
            lines.append(f"L {defect.row} 0")
    return "\n".join(lines) + "\n"


def dng(defects: Sequence[Defect], sensor: Sensor) -> str:
    """What a DNG map (binary: the value of an OpcodeList1 tag, ``hpstore.export.dng``) holds, as text."""
    lines = [f"# hpstore DNG FixBadPixelsList map: {sensor.make} {sensor.model}, {sensor.width}x{sensor.height}"]
    lines += [f"# {d.kind} row {d.row} col {d.col} score {d.score:.1f}" for d in defects]
    return "\n".join(lines) + "\n"


def as_json(defects: Sequence[Defect], sensor: Sensor) -> str:
    """The entries with the query's fields, as ``query --format json`` prints them."""
    return json.dumps([d.to_dict() for d in defects], indent=2) + "\n"


def as_csv(defects: Sequence[Defect], sensor: Sensor) -> str:
    """The entries with the query's fields, one row each, a header first."""
    out = io.StringIO()
    rows = [d.to_dict() for d in defects]
    fields = list(rows[0]) if rows else list(Defect.__dataclass_fields__)
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "|".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()})
    return out.getvalue()


def _iso(when: dt.datetime | None) -> str:
    return when.isoformat(sep=" ") if when else "(undated)"


Writer = Callable[[Sequence[Defect], Sensor], str]
# format -> (writer, whether it maps photosites of a RAW mosaic)
WRITERS: dict[str, tuple[Writer, bool]] = {
    "dcraw": (dcraw, True),
    "rawtherapee": (rawtherapee, True),
    "siril": (siril, True),
    "dng": (dng, True),
    "csv": (as_csv, False),
    "json": (as_json, False),
}


def writer(to: str) -> tuple[Writer, bool]:
    """The writer of format ``to``, and whether the format maps photosites of a RAW mosaic."""
    try:
        return WRITERS[to]
    except KeyError:
        raise BadArgument(f"--to must be one of {', '.join(WRITERS)}, not {to!r}") from None


def rawtherapee_folder(env: dict[str, str], home: Path) -> Path:
    """The folder RawTherapee reads ``.badpixels`` files from: its preferences' dark-frame folder
    (``[General] DarkFramesPath`` in the ``options`` file of ``$RT_SETTINGS``, else of its per-user folder)."""
    import configparser
    import sys

    if env.get("RT_SETTINGS"):
        settings = Path(env["RT_SETTINGS"])
    elif sys.platform == "darwin":
        settings = home / "Library" / "Application Support" / "RawTherapee"
    elif sys.platform == "win32":
        settings = Path(env.get("LOCALAPPDATA", home / "AppData" / "Local")) / "RawTherapee"
    else:
        settings = Path(env.get("XDG_CONFIG_HOME", home / ".config")) / "RawTherapee"
    options = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        options.read(settings / "options", encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as err:
        raise BadArgument(f"cannot read RawTherapee's options in {settings}: {err}") from err
    folder = options.get("General", "DarkFramesPath", fallback="").strip()
    if not folder:
        raise BadArgument(
            f"RawTherapee has no dark-frame folder ({settings / 'options'}): choose one in its Preferences, "
            "Image Processing, Dark Frame, or give -o"
        )
    return Path(folder).expanduser()
