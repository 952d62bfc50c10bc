"""The public types of hpstore's Python API: the choices a call takes and the records it returns.

Every record has ``to_dict()``, whose keys and values are the JSON fields the ``hpstore`` command prints
(dates as ISO 8601 text, choices as their names), and ``from_dict()``, its inverse.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import types
import typing
from typing import Any, Self


class Source(enum.StrEnum):
    """What a state holds: the RAW mosaic (``raw``) or developed images (``rgb``: JPEG, PNG, TIFF)."""

    RAW = "raw"
    RGB = "rgb"


class Kind(enum.StrEnum):
    """Defect classes (see ``hpstore.detect.classes.classify``)."""

    HOT = "hot"  # strong dark current: grows with exposure time and ISO
    WARM = "warm"  # weak dark current
    STUCK = "stuck"  # frozen near white
    DEAD = "dead"  # frozen near black
    PARTIAL = "partial"  # a fixed offset that the ISO gain multiplies
    DIM = "dim"  # darker than its neighbours, not frozen
    NOISY = "noisy"  # spread far above its neighbours'
    BAD_COLUMN = "bad_column"
    BAD_ROW = "bad_row"


class Status(enum.StrEnum):
    """What became of a file the catalog knows."""

    INGESTED = "ingested"
    DUPLICATE = "duplicate"  # same content as a file ingested before
    FAILED = "failed"  # could not be read or decoded (``reason`` says why)
    SKIPPED = "skipped"  # not a photo hpstore reads


class Period(enum.StrEnum):
    """Calendar periods the state is kept in, and that ``history`` and ``timeline`` count by."""

    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _parse(hint: Any, value: Any) -> Any:
    """``value`` as read from JSON, turned back into the type ``hint`` names."""
    if value is None:
        return None
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and len(args) == 1:
        return _parse(args[0], value)
    if typing.get_origin(hint) is tuple:
        return tuple(_parse(args[0], v) for v in value)
    if hint is dt.datetime and isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(value)
    return value


class Record:
    """A result with a JSON form (mixed into the frozen dataclasses below)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON fields the CLI prints for this record."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The record ``to_dict`` gave (keys it does not know are ignored)."""
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        return cls(**{f.name: _parse(hints[f.name], data.get(f.name)) for f in fields if f.name in data})


@dataclasses.dataclass(frozen=True)
class Defect(Record):
    """One entry of a ranking: a pixel (or a bad row or column) of one camera and source.

    ``row``/``col`` are those of the stored array (EXIF orientation not applied); a bad row has ``col`` None
    and a bad column ``row`` None. ``score`` ranks (a robust z); ``confidence`` is the probability that the
    entry is a real defect. ``first_seen``/``last_seen`` are the capture times of the first and last photo
    in which it stood out."""

    camera: str
    camera_id: int
    make: str | None
    model: str | None
    source: Source
    row: int | None
    col: int | None
    channel: str
    kind: Kind
    score: float
    confidence: float
    n: int
    mean: float
    std: float
    z_mean: float
    z_std: float
    neighbour_mean: float
    neighbour_std: float
    z_long: float | None = None
    n_long: int | None = None
    dark_rate: float | None = None
    offset: float | None = None
    extended: bool = False
    unconfirmed: bool = False
    consistency: float | None = None
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    seen_in: int | None = None
    latest_period: str | None = None
    group: int = 0
    groups: tuple[int, ...] = ()
    geometry: str = ""  # the stored array's WIDTHxHEIGHT


@dataclasses.dataclass(frozen=True)
class Camera(Record):
    """A camera body as the catalog knows it (make, model and body serial from EXIF)."""

    id: int
    camera: str  # how output names it: its serial, else its id
    make: str | None
    model: str | None
    serial: str | None
    sources: tuple[Source, ...]
    geometries: tuple[str, ...]  # "SOURCE WIDTHxHEIGHTxCHANNELS BITS-bit", one per source and size
    photos: int
    frames: int
    first_capture: dt.datetime | None
    last_capture: dt.datetime | None
    note: str | None  # what its identity cannot tell apart (no serial, no metadata)


@dataclasses.dataclass(frozen=True)
class FileRecord(Record):
    """A file the catalog knows, and what became of it."""

    path: str
    status: Status
    reason: str | None
    camera: str | None
    source: Source | None
    format: str | None
    size: int | None
    hash: str | None
    capture_time: dt.datetime | None
    exposure_time: float | None
    iso: float | None


@dataclasses.dataclass(frozen=True)
class PixelReport(Record):
    """Why one pixel is (or is not) a defect, for one source and channel (``Store.show``): the fields of a
    :class:`Defect`, ``likely_defect``, the reason in words, and its statistics per exposure class."""

    camera: str
    source: Source
    geometry: str
    row: int
    col: int
    channel: str
    kind: Kind
    score: float
    n: int
    mean: float
    std: float
    z_mean: float
    z_std: float
    neighbour_mean: float
    neighbour_std: float
    confidence: float
    likely_defect: bool
    why: str
    z_long: float | None = None
    n_long: int | None = None
    dark_rate: float | None = None
    offset: float | None = None
    extended: bool = False
    unconfirmed: bool = False
    consistency: float | None = None
    # per exposure class: exposure, n, dark_weight, mean, neighbour_mean, std, neighbour_std
    exposure_classes: tuple[dict[str, Any], ...] = ()
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    seen_in: int | None = None


@dataclasses.dataclass(frozen=True)
class PixelPeriod(Record):
    """One pixel in one calendar period (``Store.history``): its photos, in how many it stood out from its
    neighbours and by how much (DN); where the store keeps a state of that period, its mean and spread next
    to its neighbourhood's (None otherwise)."""

    camera: str
    source: Source
    row: int
    col: int
    period: str
    photos: int
    long_photos: int
    stood_out: int
    excess_mean: float | None = None
    excess_max: float | None = None
    mean: float | None = None
    std: float | None = None
    neighbour_mean: float | None = None
    neighbour_std: float | None = None
    z_mean: float | None = None
    z_std: float | None = None
    consistency: float | None = None


@dataclasses.dataclass(frozen=True)
class TimelinePeriod(Record):
    """Defects present and new in one period, in all and by class."""

    period: str
    photos: int
    present: int
    new: int
    by_class: dict[str, int]
    new_by_class: dict[str, int]


@dataclasses.dataclass(frozen=True)
class TimelineYear(Record):
    """Defects new in one calendar year, per megapixel and per mm² of sensor (None without its size)."""

    year: int
    new: int
    new_per_megapixel: float
    new_per_mm2: float | None


@dataclasses.dataclass(frozen=True)
class Timeline(Record):
    """How a camera's sensor ages (``Store.timeline``)."""

    camera: str
    source: Source
    geometry: str
    megapixels: float
    sensor_mm: tuple[float, float] | None  # width, height
    sensor_from: str | None  # where the size came from: "exif", "given", or None
    first_photo: dt.datetime
    last_photo: dt.datetime
    defects: int
    at_start: int  # present in the camera's first photos
    undated: dict[str, int]  # defects without a first sighting (bad lines), by class
    new_per_year: float
    new_per_year_per_megapixel: float
    new_per_year_per_mm2: float | None
    years: tuple[TimelineYear, ...]
    periods: tuple[TimelinePeriod, ...]
