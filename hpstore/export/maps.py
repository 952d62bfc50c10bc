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
    "csv": (as_csv, False),
    "json": (as_json, False),
}


def writer(to: str) -> tuple[Writer, bool]:
    """The writer of format ``to``, and whether the format maps photosites of a RAW mosaic."""
    try:
        return WRITERS[to]
    except KeyError:
        raise BadArgument(f"--to must be one of {', '.join(WRITERS)}, not {to!r}") from None
