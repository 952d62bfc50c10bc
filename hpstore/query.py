"""Read-side library calls: ranked pixels, cameras and files, as plain dicts ready for JSON."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import func, select

from . import periods
from .analysis import (
    KINDS,
    MIN_SCORE,
    TILE,
    Levels,
    class_facts,
    evidence,
    explain,
    geometry,
    long_maps,
)
from .catalog import INGESTED, STATUSES, Camera, File, Group
from .defects import family_defects, is_defect, sightings, with_evidence
from .errors import BadArgument, CameraNotFound
from .family import Window, families, family_state
from .settings import Settings
from .store import Store

SOURCES = ("raw", "rgb")


def camera_label(camera: Camera) -> str:
    """How output names a camera: its serial, else its catalog id."""
    return camera.serial or str(camera.id)


def select_cameras(cameras: list[Camera], selector: str | None) -> list[Camera]:
    """Cameras matching ``selector``: an id, a serial, or text found in "make model" (case-insensitive)."""
    if not selector:
        return cameras
    text = selector.strip().lower()
    exact = [c for c in cameras if str(c.id) == text or (c.serial or "").lower() == text]
    if exact:
        return exact
    found = [c for c in cameras if text in f"{c.make or ''} {c.model or ''}".lower()]
    if not found:
        known = ", ".join(
            f"{c.id}: {c.make or 'unknown'} {c.model or ''} {c.serial or ''}".strip() for c in cameras
        )
        raise CameraNotFound(f"no camera matches {selector!r} (known: {known or 'none'})")
    return found


def levels_of(group: Group) -> Levels:
    if group.source == "raw" and group.white_level:
        return Levels(group.black_level or 0.0, group.white_level)
    return Levels(0.0, float((1 << group.bits) - 1))


def window_of(since: str | dt.date | None, until: str | dt.date | None) -> Window:
    """The capture-date window from ``since`` to ``until`` inclusive (``until="2021"`` or a ``date``
    includes all of that year or day; see ``periods.bound``)."""
    window = Window(periods.bound(since or None), periods.bound(until or None, end=True))
    if window.since and window.until and window.since >= window.until:
        raise BadArgument(f"since {since} is not before until {until}")
    return window


def _date(when: dt.datetime | None) -> str | None:
    return when.isoformat() if when else None


def query(
    settings: Settings,
    *,
    camera: str | None = None,
    source: str | None = None,
    top: int = 20,
    min_score: float = MIN_SCORE,
    kind: str | None = None,
    since: str | dt.date | None = None,
    until: str | dt.date | None = None,
    min_confidence: float = 0.0,
) -> list[dict[str, Any]]:
    """The ``top`` most suspicious pixels over the selected cameras and sources, best first; with
    ``min_confidence``, only entries at least that likely to be real defects (``confidence``).

    With ``since``/``until`` the ranking is the one the photos captured in that window give (photos without
    a capture date are left out). Each point defect carries ``first_seen``/``last_seen``: the capture times
    of the first and last photo in which it stood out (see ``hpstore.onset``)."""
    if source is not None and source not in SOURCES:
        raise BadArgument(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    if kind is not None and kind not in KINDS:
        raise BadArgument(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if top < 1:
        raise BadArgument("top must be at least 1")
    if not 0.0 <= min_confidence <= 1.0:
        raise BadArgument(f"min_confidence must lie in 0..1, not {min_confidence}")
    window = window_of(since, until)
    with Store(settings, create=False) as store:
        cameras = {c.id: c for c in select_cameras(store.catalog.cameras(), camera)}
        results: list[dict[str, Any]] = []
        for family in families(store.catalog.groups(cameras)):
            group = family[0]
            if sum(g.n for g in family) < 2 or (source and group.source != source):
                continue
            cam = cameras[group.camera_id]
            for f in family_defects(
                store,
                family,
                window=window,
                levels=levels_of(group),
                top=top,
                min_score=min_score,
                kinds=None if kind is None else {kind},
            ):
                results.append(
                    {
                        "camera": camera_label(cam),
                        "camera_id": cam.id,
                        "make": cam.make,
                        "model": cam.model,
                        "source": group.source,
                        "group": group.id,
                        "groups": [g.id for g in family],
                        "geometry": f"{group.width}x{group.height}",
                        **f.candidate.as_dict(),
                        "first_seen": _date(f.seen.first) if f.seen else None,
                        "last_seen": _date(f.seen.last) if f.seen else None,
                        "seen_in": f.seen.photos if f.seen else None,
                        "latest_period": f.latest,
                    }
                )
    results = [r for r in results if r["confidence"] >= min_confidence]
    results.sort(key=lambda r: -r["score"])
    return results[:top]


def cameras(settings: Settings) -> list[dict[str, Any]]:
    """Every camera with its sources, geometries, photo count and capture date range."""
    with Store(settings, create=False) as store:
        groups_by_camera: dict[int, list[Group]] = defaultdict(list)
        for group in store.catalog.groups():
            groups_by_camera[group.camera_id].append(group)
        stmt = (
            select(File.camera_id, func.count(), func.min(File.capture_time), func.max(File.capture_time))
            .where(File.status == INGESTED)
            .group_by(File.camera_id)
        )
        with store.catalog.read() as s:
            counts = {cid: (n, first, last) for cid, n, first, last in s.execute(stmt)}
        out = []
        for cam in store.catalog.cameras():
            groups = [g for g in groups_by_camera.get(cam.id, []) if g.n]
            photos, first, last = counts.get(cam.id, (0, None, None))
            if not groups and not photos:
                continue  # made for files that then failed to decode
            geometries = [f"{g.source} {g.width}x{g.height}x{g.channels} {g.bits}-bit" for g in groups]
            out.append(
                {
                    "id": cam.id,
                    "camera": camera_label(cam),
                    "make": cam.make,
                    "model": cam.model,
                    "serial": cam.serial,
                    "sources": sorted({g.source for g in groups}),
                    "geometries": list(dict.fromkeys(geometries)),  # one per source and geometry
                    "photos": photos,
                    "frames": sum(g.n for g in groups),
                    "first_capture": first.isoformat() if first else None,
                    "last_capture": last.isoformat() if last else None,
                    "note": _identity_note(cam),
                }
            )
    return out


def _identity_note(camera: Camera) -> str | None:
    """What a camera's identity cannot tell apart, or None when it names one body."""
    if camera.serial:
        return None
    if camera.make or camera.model:
        return "no body serial in the files: photos of several bodies of this model would share this camera"
    return "no camera metadata: photos of any camera with this image size would share this camera"


def files(settings: Settings, *, status: str | None = None, camera: str | None = None) -> list[dict[str, Any]]:
    """Every file the catalog knows (optionally one status or camera), with what became of it."""
    if status is not None and status not in STATUSES:
        raise BadArgument(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    with Store(settings, create=False) as store:
        cams = {c.id: c for c in store.catalog.cameras()}
        chosen = None if camera is None else [c.id for c in select_cameras(list(cams.values()), camera)]
        rows = store.catalog.files(status, chosen)
    return [
        {
            "path": f.path,
            "status": f.status,
            "reason": f.reason,
            "camera": camera_label(cams[f.camera_id]) if f.camera_id in cams else None,
            "source": f.source,
            "format": f.format,
            "size": f.size,
            "hash": f.hash,
            "capture_time": f.capture_time.isoformat() if f.capture_time else None,
            "exposure_time": f.exposure_time,
            "iso": f.iso,
        }
        for f in rows
    ]


def parse_pixel(text: str | tuple[int, int]) -> tuple[int, int]:
    """``"ROW,COL"`` or ``(row, col)`` -> (row, col), checked."""
    try:
        row, col = (int(part) for part in (text.split(",") if isinstance(text, str) else text))
    except (TypeError, ValueError) as err:
        raise BadArgument(f"a pixel is ROW,COL (two whole numbers), not {text!r}") from err
    if row < 0 or col < 0:
        raise BadArgument("pixel coordinates start at 0")
    return row, col


def one_camera(store: Store, selector: str) -> Camera:
    """The one camera ``selector`` names; an error when it names none or several."""
    found = select_cameras(store.catalog.cameras(), selector)
    if len(found) > 1:
        names = ", ".join(camera_label(c) for c in found)
        raise BadArgument(f"camera {selector!r} matches {len(found)} cameras ({names}): give a serial or id")
    return found[0]


def pixel_window(row: int, col: int, group: Group) -> tuple[slice, slice]:
    """The rows and columns of state needed to explain one pixel with the ranking's own z-scores."""
    period, _ = geometry(group.source, group.pattern)
    return _window(row, group.height, TILE * period), _window(col, group.width, TILE * period)


def _window(index: int, size: int, span: int) -> slice:
    # The pixel's tile and one tile either side, aligned with the tiles the ranking uses, so the z-scores
    # shown are the ranking's own without reading the whole state.
    tile = index // span
    return slice(max(0, (tile - 1) * span), min(size, (tile + 2) * span))


def show(
    settings: Settings, *, camera: str, pixel: str | tuple[int, int], source: str | None = None
) -> list[dict[str, Any]]:
    """Explain one pixel of one camera: per source and channel, its statistics next to its neighbourhood's,
    its class and why."""
    row, col = parse_pixel(pixel)
    with Store(settings, create=False) as store:
        cam = one_camera(store, camera)
        out: list[dict[str, Any]] = []
        for family in families(store.catalog.groups([cam.id])):
            group = family[0]
            if sum(g.n for g in family) < 2 or (source and group.source != source):
                continue
            if row >= group.height or col >= group.width:
                continue
            rows, cols = pixel_window(row, col, group)
            fs = family_state(store, family, rows, cols, keep=True)
            if fs is None:
                continue
            state, classes, parts = fs.state, fs.classes, fs.parts
            levels = levels_of(group)
            kw: dict[str, Any] = {"source": group.source, "pattern": group.pattern, "levels": levels}
            ev = evidence(state.mean, np.sqrt(state.m2 / state.n), pairs=state.pairs, n=state.n, **kw)
            at = (row - rows.start, col - cols.start)
            explained = explain(ev, *at, state.n, classes=classes, maps=long_maps(classes, **kw), **kw)
            # explain() numbers rows and columns within the window read; the photos' evidence, in the frame
            framed = [replace(found, row=row, col=col) for found, _ in explained]
            sights = sightings(with_evidence(store, family, fs.photos), group, framed)
            for c, ((cand, entry), sight) in enumerate(zip(explained, sights, strict=True)):
                entry.update(row=row, col=col)
                entry["exposure_classes"] = class_facts(classes, parts, *at, c, **kw)
                entry.update(
                    first_seen=_date(sight.first) if sight else None,
                    last_seen=_date(sight.last) if sight else None,
                    seen_in=sight.photos if sight else None,
                )
                # The rule query applies: the per-photo evidence has the last word.
                defect = cand.score >= MIN_SCORE and is_defect(cand, sight)
                if defect and not entry["likely_defect"] and sight is not None:
                    entry["why"] += f"; yet it stood out in {sight.photos} photos of {sight.runs} scenes: a defect"
                elif entry["likely_defect"] and not defect:
                    entry["why"] += (
                        "; but one burst of a static scene, or one or two photos, hold its excess: light in the "
                        "scene (a star, a glint), not a defect"
                    )
                entry["likely_defect"] = defect
                out.append(
                    {
                        "camera": camera_label(cam),
                        "source": group.source,
                        "geometry": f"{group.width}x{group.height}",
                        **entry,
                    }
                )
        if not out:
            raise BadArgument(
                f"camera {camera_label(cam)} has no state with at least 2 photos covering pixel {row},{col}"
            )
    return out
