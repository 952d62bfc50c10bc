"""Read-side library calls: ranked pixels, cameras and files, as plain dicts ready for JSON."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import func, select

from .analysis import (
    KINDS,
    MIN_SCORE,
    TILE,
    ClassMean,
    Levels,
    class_facts,
    evidence,
    explain,
    geometry,
    long_z,
    rank,
)
from .catalog import INGESTED, STATUSES, Camera, File, Group
from .errors import BadArgument, CameraNotFound, StateError
from .settings import Settings
from .stats import State, merge_into
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


def committed_state(
    store: Store, group: Group, rows: slice = slice(None), cols: slice = slice(None), attempts: int = 5
) -> State:
    """The group's last committed state (or a window of it). An ingest may commit (and drop the generation
    we were about to read) meanwhile: then the catalog is asked again for the current generation."""
    for attempt in range(attempts):
        try:
            return store.state.read(group.id, group.generation, group.n, rows, cols)
        except StateError:
            if attempt == attempts - 1:
                raise
            group = store.catalog.get_group(group.id)
    raise AssertionError("unreachable")


def families(groups: list[Group]) -> list[list[Group]]:
    """Groups of one camera, source and geometry (one per exposure class), in catalog order."""
    out: dict[tuple[int, str, int, int, int, int], list[Group]] = defaultdict(list)
    for g in groups:
        out[(g.camera_id, g.source, g.height, g.width, g.channels, g.bits)].append(g)
    return list(out.values())


def family_state(
    store: Store, family: list[Group], rows: slice = slice(None), cols: slice = slice(None), *, keep: bool = False
) -> tuple[State, list[ClassMean], list[State]]:
    """The merged state of a family's exposure classes (or a window of it), each class's mean, and (with
    ``keep``) each class's whole state.

    Without ``keep`` the merge reuses the first class's M2 array: a 24 MP RGB state is 1.15 GB."""
    weights = store.catalog.dark_weights([g.id for g in family])
    parts = [(g, committed_state(store, g, rows, cols)) for g in family if g.n > 0]
    classes = [ClassMean(g.exposure, st.n, np.asarray(weights.get(g.id, []), float), st.mean) for g, st in parts]
    first = parts[0][1]
    if len(parts) > 1:
        first = State(first.n, first.mean.copy(), first.m2.copy() if keep else first.m2)
    for _, st in parts[1:]:
        merge_into(first, st)
    return first, classes, [st for _, st in parts] if keep else []


def query(
    settings: Settings,
    *,
    camera: str | None = None,
    source: str | None = None,
    top: int = 20,
    min_score: float = MIN_SCORE,
    kind: str | None = None,
) -> list[dict[str, Any]]:
    """The ``top`` most suspicious pixels over the selected cameras and sources, best first."""
    if source is not None and source not in SOURCES:
        raise BadArgument(f"--source must be one of {', '.join(SOURCES)}, not {source!r}")
    if kind is not None and kind not in KINDS:
        raise BadArgument(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if top < 1:
        raise BadArgument("--top must be at least 1")
    with Store(settings, create=False) as store:
        cameras = {c.id: c for c in select_cameras(store.catalog.cameras(), camera)}
        results: list[dict[str, Any]] = []
        for family in families(store.catalog.groups(cameras)):
            group = family[0]
            if sum(g.n for g in family) < 2 or (source and group.source != source):
                continue
            state, classes, _ = family_state(store, family)
            cam = cameras[group.camera_id]
            for cand in rank(
                state,
                source=group.source,
                pattern=group.pattern,
                levels=levels_of(group),
                top=top,
                min_score=min_score,
                kinds=None if kind is None else {kind},
                classes=classes,
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
                        **cand.as_dict(),
                    }
                )
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
            groups = groups_by_camera.get(cam.id, [])
            photos, first, last = counts.get(cam.id, (0, None, None))
            out.append(
                {
                    "id": cam.id,
                    "camera": camera_label(cam),
                    "make": cam.make,
                    "model": cam.model,
                    "serial": cam.serial,
                    "sources": sorted({g.source for g in groups}),
                    "geometries": [f"{g.source} {g.width}x{g.height}x{g.channels} {g.bits}-bit" for g in groups],
                    "photos": photos,
                    "frames": sum(g.n for g in groups),
                    "first_capture": first.isoformat() if first else None,
                    "last_capture": last.isoformat() if last else None,
                }
            )
    return out


def files(settings: Settings, *, status: str | None = None, camera: str | None = None) -> list[dict[str, Any]]:
    """Every file the catalog knows (optionally one status or camera), with what became of it."""
    if status is not None and status not in STATUSES:
        raise BadArgument(f"--status must be one of {', '.join(STATUSES)}, not {status!r}")
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


def parse_pixel(text: str) -> tuple[int, int]:
    """``"ROW,COL"`` -> (row, col)."""
    try:
        row, col = (int(part) for part in text.split(","))
    except ValueError as err:
        raise BadArgument(f"--pixel takes ROW,COL (two whole numbers), not {text!r}") from err
    if row < 0 or col < 0:
        raise BadArgument("--pixel coordinates start at 0")
    return row, col


def _window(index: int, size: int, span: int) -> slice:
    # The pixel's tile and one tile either side, aligned with the tiles the ranking uses, so the z-scores
    # shown are the ranking's own without reading the whole state.
    tile = index // span
    return slice(max(0, (tile - 1) * span), min(size, (tile + 2) * span))


def show(settings: Settings, *, camera: str, pixel: str, source: str | None = None) -> list[dict[str, Any]]:
    """Explain one pixel of one camera: per source and channel, its statistics next to its neighbourhood's,
    its class and why."""
    row, col = parse_pixel(pixel)
    with Store(settings, create=False) as store:
        found = select_cameras(store.catalog.cameras(), camera)
        if len(found) > 1:
            names = ", ".join(camera_label(c) for c in found)
            raise BadArgument(f"--camera {camera!r} matches {len(found)} cameras ({names}): give a serial or id")
        cam = found[0]
        out: list[dict[str, Any]] = []
        for family in families(store.catalog.groups([cam.id])):
            group = family[0]
            if sum(g.n for g in family) < 2 or (source and group.source != source):
                continue
            if row >= group.height or col >= group.width:
                continue
            period, _ = geometry(group.source, group.pattern)
            rows, cols = _window(row, group.height, TILE * period), _window(col, group.width, TILE * period)
            state, classes, parts = family_state(store, family, rows, cols, keep=True)
            levels = levels_of(group)
            ev = evidence(
                state.mean, np.sqrt(state.m2 / state.n), source=group.source, pattern=group.pattern, levels=levels
            )
            at = (row - rows.start, col - cols.start)
            kw: dict[str, Any] = {"source": group.source, "pattern": group.pattern, "levels": levels}
            z_long = long_z(classes, **kw)
            for c, entry in enumerate(explain(ev, *at, state.n, classes=classes, z_long=z_long, **kw)):
                entry.update(row=row, col=col)
                entry["exposure_classes"] = class_facts(classes, parts, *at, c, **kw)
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
