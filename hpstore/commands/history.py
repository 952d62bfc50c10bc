"""A pixel's history and a camera's defect timeline: the store's time axis as users read it.

``history`` gives, per calendar period, how many photos a pixel was in, in how many of them it stood out
from its neighbours and by how much (the per-photo evidence, at any period), and its mean and spread
against its neighbourhood from the dense state (at periods no finer than the store's own, see
``hpstore.timeaxis.periods``). ``timeline`` dates every defect the ranking finds by its first and last sighting
and counts, per period, the defects present by class, the new ones per year, and the rate per megapixel
(and per mm² when the sensor size is known).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from hpstore.commands.choose import camera_label, one_camera, parse_pixel, pixel_window
from hpstore.commands.query import query
from hpstore.detect.rank import MIN_SCORE, evidence
from hpstore.errors import BadArgument
from hpstore.settings import Settings
from hpstore.store.catalog import Group, Photo
from hpstore.store.storage import Storage
from hpstore.timeaxis import onset, periods
from hpstore.timeaxis.exposure import LONG, exposure_class
from hpstore.timeaxis.families import family_state
from hpstore.timeaxis.window import Window, families, layout_of

AT_START = 10  # a defect first seen among a camera's first photos was there before the archive begins


def _dense(store: Storage, family: list[Group], label: str, row: int, col: int) -> dict[str, Any]:
    """The pixel's dense statistics over one period: empty when a group of the store straddles it."""
    span = periods.span(label)
    if span is None:
        return {}
    window = Window(*span)
    if any(window.covers(g) == "part" for g in family):
        return {}
    group = family[0]
    rows, cols = pixel_window(row, col, group)
    fs = family_state(store, family, rows, cols, window=window)
    if fs is None or fs.n < 2:
        return {}
    ev = evidence(
        fs.state.mean,
        np.sqrt(fs.state.m2 / fs.state.n),
        layout=layout_of(group),
        pairs=fs.state.pairs,
        n=fs.state.n,
    )
    r, c = row - rows.start, col - cols.start
    ch = int(np.argmax(np.abs(ev.z_mean[r, c])))
    return {
        "mean": float(ev.mean[r, c, ch]),
        "std": float(ev.std[r, c, ch]),
        "neighbour_mean": float(ev.nb_mean[r, c, ch]),
        "neighbour_std": float(ev.nb_std[r, c, ch]),
        "z_mean": float(ev.z_mean[r, c, ch]),
        "z_std": float(ev.z_std[r, c, ch]),
        # the sign test over the period's photos (query's ``consistency``); None for stores without pairs
        "consistency": None if ev.t is None else float(ev.t[r, c, ch]),
    }


def history(
    settings: Settings,
    *,
    camera: str,
    pixel: str | tuple[int, int],
    period: str = "month",
    source: str | None = None,
) -> list[dict[str, Any]]:
    """Per source and period: the pixel's photos, how often and how far it stood out, and (where the store's
    periods allow) its mean and spread against its neighbourhood."""
    periods.check_size(period)
    row, col = parse_pixel(pixel)
    out: list[dict[str, Any]] = []
    with Storage(settings, create=False) as store:
        cam = one_camera(store, camera)
        for family in families(store.catalog.groups([cam.id])):
            group = family[0]
            if (source and group.source != source) or row >= group.height or col >= group.width:
                continue
            photos = store.catalog.photos([g.id for g in family], standouts=True)
            shape = (group.height, group.width, group.channels)
            tgt = onset.target(row, col, shape, source=group.source, sign=0, dark=False)
            excess = onset.hits(photos, [tgt]).excess[:, 0]
            buckets: dict[str, list[int]] = defaultdict(list)
            for i, p in enumerate(photos):
                buckets[periods.label(p.capture_time, period)].append(i)
            dated = [p.capture_time for p in photos if p.capture_time is not None]
            labels = periods.labels_between(min(dated), max(dated), period) if dated else []
            if periods.UNDATED in buckets:
                labels.append(periods.UNDATED)
            for label in labels:
                index = buckets.get(label, [])
                stood = [float(excess[i]) for i in index if excess[i] != 0]
                out.append(
                    {
                        "camera": camera_label(cam),
                        "source": group.source,
                        "row": row,
                        "col": col,
                        "period": label,
                        "photos": len(index),
                        "long_photos": sum(
                            1 for i in index if exposure_class(photos[i].exposure_time, photos[i].iso) == LONG
                        ),
                        "stood_out": len(stood),
                        "excess_mean": float(np.mean(stood)) if stood else None,
                        "excess_max": float(max(stood, key=abs)) if stood else None,
                        **dict.fromkeys(
                            ("mean", "std", "neighbour_mean", "neighbour_std", "z_mean", "z_std", "consistency")
                        ),
                        **(_dense(store, family, label, row, col) if index else {}),
                    }
                )
    if not out:
        raise BadArgument(f"camera {camera} has no photos covering pixel {row},{col}")
    return out


def _preferred_source(store: Storage, camera_id: int, source: str | None) -> str:
    sources = {g.source for g in store.catalog.groups([camera_id])}
    if source is not None:
        if source not in sources:
            raise BadArgument(f"camera has no {source} photos (it has: {', '.join(sorted(sources)) or 'none'})")
        return source
    return "raw" if "raw" in sources else "rgb"  # RAW and JPEG of one shot show the same defects


def sensor_from_exif(store: Storage, camera_id: int, source: str) -> tuple[float, float] | None:
    """The sensor's (width, height) in mm from its photos' EXIF focal-plane resolution (median), if given."""
    rows = store.catalog.focal_plane(camera_id, source)
    if not rows:
        return None
    return float(np.median([w / x for w, _, x, _ in rows])), float(np.median([h / y for _, h, _, y in rows]))


def _camera_photos(store: Storage, camera_id: int, source: str) -> list[Photo]:
    ids = [g.id for g in store.catalog.groups([camera_id]) if g.source == source]
    return [p for p in store.catalog.photos(ids) if p.capture_time is not None]


def timeline(
    settings: Settings,
    *,
    camera: str,
    period: str = "year",
    source: str | None = None,
    sensor_mm: tuple[float, float] | None = None,
    top: int = 500,
    min_score: float = MIN_SCORE,
) -> dict[str, Any]:
    """Defects present per period by class, new defects per year, and the rate per megapixel (and mm²)."""
    periods.check_size(period)
    with Storage(settings, create=False) as store:
        cam = one_camera(store, camera)
        chosen = _preferred_source(store, cam.id, source)
        photos = _camera_photos(store, cam.id, chosen)
        groups = [g for g in store.catalog.groups([cam.id]) if g.source == chosen]
        sensor_from = "given" if sensor_mm else None
        if sensor_mm is None:
            sensor_mm = sensor_from_exif(store, cam.id, chosen)
            sensor_from = "exif" if sensor_mm else None
    if not photos:
        raise BadArgument(f"camera {camera_label(cam)} has no dated {chosen} photos")
    # The ranking already holds one entry per defect; the timeline dates each.
    defects = query(settings, camera=str(cam.id), source=chosen, top=top, min_score=min_score)
    first, last = photos[0].capture_time, photos[-1].capture_time
    assert first is not None and last is not None
    labels = periods.labels_between(first, last, period)
    photos_in = Counter(periods.label(p.capture_time, period) for p in photos)
    present: dict[str, Counter[str]] = {label: Counter() for label in labels}
    new: dict[str, Counter[str]] = {label: Counter() for label in labels}
    undated: Counter[str] = Counter()
    # One definition of a defect: an entry of the ranking. A defect does not heal (a hot pixel merely
    # hides in daylight photos), so it is present from its first sighting to the last period; one never
    # seen alone in a photo (a line, a faint defect) in every period. The last period then counts every
    # entry, as the summary does.
    for d in defects:
        if d["first_seen"] is None:
            undated[d["kind"]] += 1  # lines, and defects too faint to stand out in single photos
            for label in labels:
                present[label][d["kind"]] += 1
            continue
        seen = dt.datetime.fromisoformat(d["first_seen"])
        new[periods.label(seen, period)][d["kind"]] += 1
        for label in labels:
            span = periods.span(label)
            assert span is not None
            if seen < span[1]:
                present[label][d["kind"]] += 1
    group = max(groups, key=lambda g: g.height * g.width)
    megapixels = group.height * group.width / 1e6
    # Defects first seen in the archive's first few photos were there before it begins: when they appeared
    # is unknown. The others grew during the archive's span.
    start = photos[min(AT_START, len(photos)) - 1].capture_time
    assert start is not None
    dates = [dt.datetime.fromisoformat(d["first_seen"]) for d in defects if d["first_seen"]]
    at_start = sum(1 for when in dates if when <= start)
    per_year = Counter(when.year for when in dates if when > start)
    years = max((last - first).days / 365.25, 1 / 365.25)
    grown = sum(per_year.values())
    area = sensor_mm[0] * sensor_mm[1] if sensor_mm else None
    return {
        "camera": camera_label(cam),
        "source": chosen,
        "geometry": f"{group.width}x{group.height}",
        "megapixels": megapixels,
        "sensor_mm": [round(v, 3) for v in sensor_mm] if sensor_mm else None,
        "sensor_from": sensor_from,
        "first_photo": first.isoformat(),
        "last_photo": last.isoformat(),
        "defects": len(defects),
        "at_start": at_start,
        "undated": dict(undated),
        "new_per_year": grown / years,
        "new_per_year_per_megapixel": grown / years / megapixels,
        "new_per_year_per_mm2": grown / years / area if area else None,
        "years": [
            {
                "year": year,
                "new": per_year.get(year, 0),
                "new_per_megapixel": per_year.get(year, 0) / megapixels,
                "new_per_mm2": per_year.get(year, 0) / area if area else None,
            }
            for year in range(first.year, last.year + 1)
        ],
        "periods": [
            {
                "period": label,
                "photos": photos_in.get(label, 0),
                "present": sum(present[label].values()),
                "new": sum(new[label].values()),
                "by_class": dict(present[label]),
                "new_by_class": dict(new[label]),
            }
            for label in labels
        ],
    }


def parse_sensor(text: str | None) -> tuple[float, float] | None:
    """``"23.5x15.6"`` (mm) -> (23.5, 15.6)."""
    if not text:
        return None
    try:
        width, height = (float(part) for part in text.lower().split("x"))
    except ValueError as err:
        raise BadArgument(f"a sensor size is WIDTHxHEIGHT in mm, e.g. 23.5x15.6, not {text!r}") from err
    if width <= 0 or height <= 0:
        raise BadArgument("a sensor size must be positive")
    return width, height
