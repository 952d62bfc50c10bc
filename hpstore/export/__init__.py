"""Act on what was found: defect maps for raw converters and stacking programs (``export``)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hpstore.commands.choose import camera_label, one_camera
from hpstore.commands.query import query
from hpstore.detect.classes import MIN_SCORE
from hpstore.errors import BadArgument, DecodeError, UnsupportedFormat
from hpstore.export import maps
from hpstore.export.repair import Fixed, fix_photo, out_folder, target_for
from hpstore.settings import Settings
from hpstore.store.storage import Storage
from hpstore.types import Defect, Source

DEFAULT_TOP = 1000  # entries a map holds at most: far more than a camera's real defects
DEFAULT_CONFIDENCE = 0.5  # a map repairs what is more likely a defect than not


@dataclass(frozen=True)
class Export:
    """A map ready to write: its ``text``, the file name its program looks for (or a plain one), the
    entries it holds and the photosites they cover."""

    text: str
    filename: str
    camera: str
    entries: int
    photosites: int
    format: str
    data: bytes | None = None  # a binary map (dng): written instead of ``text``, which describes it

    @property
    def content(self) -> bytes:
        """What the map's file holds."""
        return self.data if self.data is not None else self.text.encode()


def export(
    settings: Settings,
    *,
    camera: str,
    to: str,
    top: int = DEFAULT_TOP,
    kind: str | None = None,
    min_score: float = MIN_SCORE,
    min_confidence: float = DEFAULT_CONFIDENCE,
    since: str | dt.date | None = None,
    until: str | dt.date | None = None,
    geometry: str | None = None,
) -> Export:
    """The defects of one camera that pass the query's filters, as a map in format ``to``.

    Entries the photos do not confirm as one photosite (``extended``: light in the scene) are left out. A
    sensor map (dcraw, ...) takes the camera's RAW entries of one geometry (``geometry``, ``WIDTHxHEIGHT``,
    needed only when the camera has several)."""
    write, sensor_map = maps.writer(to)
    with Storage(settings, create=False) as store:
        cam = one_camera(store, camera)
        raw = sorted({(g.width, g.height) for g in store.catalog.groups([cam.id]) if g.source == Source.RAW})
    sensor = _sensor(cam.make, cam.model, raw, geometry, to) if sensor_map else maps.Sensor(0, 0, "", "")
    rows = query(
        settings,
        camera=str(cam.id),
        source=Source.RAW.value if sensor_map else None,
        top=top,
        kind=kind,
        min_score=min_score,
        min_confidence=min_confidence,
        since=since,
        until=until,
    )
    defects = [d for d in map(Defect.from_dict, rows) if not d.extended]
    if sensor_map:
        defects = [d for d in defects if d.geometry == f"{sensor.width}x{sensor.height}"]
    label = camera_label(cam)
    covered = sum(1 for d in defects for _ in maps.points(d, sensor)) if sensor_map else len(defects)
    name = _filename(to, cam.make, cam.model, label)
    if to == "dng":
        data = _dng_map(settings, cam.id, sensor, defects)
        return Export(write(defects, sensor), name, label, len(defects), covered, to, data)
    return Export(write(defects, sensor), name, label, len(defects), covered, to)


def _dng_map(settings: Settings, camera_id: int, sensor: maps.Sensor, defects: Sequence[Defect]) -> bytes:
    """The OpcodeList1 value for the camera's DNGs, laid out (active area, CFA phase) as its newest DNG of
    this size that can still be read."""
    from hpstore.export import dng
    from hpstore.io import fs_path

    with Storage(settings, create=False) as store:
        groups = [
            g.id
            for g in store.catalog.groups([camera_id])
            if g.source == Source.RAW and (g.width, g.height) == (sensor.width, sensor.height)
        ]
        photos = store.catalog.photos(groups)
    photos.sort(key=lambda p: p.capture_time or dt.datetime.min, reverse=True)
    points, columns, rows = maps.by_shape(defects)
    for photo in photos:
        path = fs_path(photo.path, photo.path_bytes)
        if path.suffix.lower() != ".dng":
            continue
        try:
            return dng.map_for(path.read_bytes(), points, columns, rows)
        except (OSError, DecodeError):
            continue
    raise BadArgument("a dng map takes its layout from the camera's DNGs, and none of them can be read")


def _sensor(
    make: str | None, model: str | None, raw: list[tuple[int, int]], geometry: str | None, to: str
) -> maps.Sensor:
    if not raw:
        raise BadArgument(f"a {to} map is in RAW photosites, and this camera has no RAW photos: try csv or json")
    sizes = [f"{w}x{h}" for w, h in raw]
    if geometry is not None:
        if geometry not in sizes:
            raise BadArgument(f"--geometry {geometry}: this camera's RAW geometries are {', '.join(sizes)}")
        raw = [raw[sizes.index(geometry)]]
    elif len(raw) > 1:
        raise BadArgument(f"this camera has RAW photos of several sizes ({', '.join(sizes)}): give --geometry")
    ((width, height),) = raw
    return maps.Sensor(width, height, make or "Unknown", model or "camera")


def _filename(to: str, make: str | None, model: str | None, label: str) -> str:
    """The name the format's program looks for (RawTherapee: ``<Make> <Model>.badpixels`` in its dark-frame
    folder, LibRaw's names), else a plain one after the camera."""
    if to == "rawtherapee":
        maker, name = maps.libraw_names(make or "", model or "")
        return f"{maker} {name}.badpixels".strip().replace("/", "_")
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{make or ''} {model or ''} {label}".strip()) or "camera"
    return f"{plain}." + {"dcraw": "dcraw-badpixels.txt", "siril": "lst", "dng": "OpcodeList1.bin"}.get(to, to)


def fix(
    settings: Settings,
    *,
    camera: str,
    photos: Sequence[str],
    out: str | Path,
    min_score: float = MIN_SCORE,
    min_confidence: float = DEFAULT_CONFIDENCE,
) -> list[Fixed]:
    """Repaired copies of ``photos`` (files, folders, patterns) of one camera in the folder ``out``: each
    defect active at a photo's capture time painted over (:mod:`hpstore.export.repair`). Photos of other
    cameras, RAW files and unreadable ones are reported as skipped; originals are never written."""
    from hpstore.io import discover, probe
    from hpstore.io.identity import camera_identity

    found = list(discover(photos))
    paths = [f.path for f in found if not f.problem]
    folder = out_folder(Path(out), paths)
    with Storage(settings, create=False) as store:
        cam = one_camera(store, camera)
    rows = query(settings, camera=str(cam.id), top=DEFAULT_TOP, min_score=min_score, min_confidence=min_confidence)
    defects = [d for d in map(Defect.from_dict, rows) if not d.extended]
    folder.mkdir(parents=True, exist_ok=True)
    results: list[Fixed] = [Fixed(str(f.path), "skipped", reason=f.problem) for f in found if f.problem]
    taken: set[str] = set()
    for path in paths:
        try:
            info = probe(path)
        except (UnsupportedFormat, DecodeError) as err:
            results.append(Fixed(str(path), "skipped", reason=str(err)))
            continue
        if camera_identity(info)[0] != cam.key:
            results.append(Fixed(str(path), "skipped", reason=f"not a photo of camera {camera_label(cam)}"))
        elif info.source == Source.RAW.value and path.suffix.lower() != ".dng":
            reason = "a RAW file other than DNG: map its defects out in the raw converter (hpstore export)"
            results.append(Fixed(str(path), "skipped", reason=reason))
        elif info.source == Source.RAW.value:
            own = [d for d in defects if d.geometry == f"{info.width}x{info.height}"]
            target = target_for(folder, path, taken)
            results.append(fix_photo(path, target, own, info.facts.capture_time, kind="dng"))
        else:
            kind = "tiff" if info.format == "tiff" else "image"
            target = target_for(folder, path, taken)
            results.append(fix_photo(path, target, defects, info.facts.capture_time, kind=kind))
    return results
