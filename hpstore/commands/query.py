"""Read-side library calls: ranked pixels, cameras and files, as plain dicts ready for JSON."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import replace
from typing import Any

from hpstore.commands.choose import camera_label, one_camera, parse_pixel, pixel_window, select_cameras, window_of
from hpstore.detect.classes import KINDS, MIN_SCORE
from hpstore.errors import BadArgument
from hpstore.settings import Settings
from hpstore.store.catalog import STATUSES, Camera, Group
from hpstore.store.storage import Storage
from hpstore.timeaxis import kept
from hpstore.timeaxis.kept import DatedDefect
from hpstore.timeaxis.window import Window, families
from hpstore.types import Source

# This module imports only what reading kept rankings needs: the state, the ranking's compiled kernels and the
# photo decoders are imported where a ranking must be computed (``_defects``, ``show``).

SOURCES = tuple(s.value for s in Source)


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
    of the first and last photo in which it stood out (see ``hpstore.timeaxis.onset``)."""
    if source is not None and source not in SOURCES:
        raise BadArgument(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
    if kind is not None and kind not in KINDS:
        raise BadArgument(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if top < 1:
        raise BadArgument("top must be at least 1")
    if not 0.0 <= min_confidence <= 1.0:
        raise BadArgument(f"min_confidence must lie in 0..1, not {min_confidence}")
    window = window_of(since, until)
    with Storage(settings, create=False) as store:
        cameras = {c.id: c for c in select_cameras(store.catalog.cameras(), camera)}
        results: list[dict[str, Any]] = []
        for family in families(store.catalog.groups(cameras)):
            group = family[0]
            if sum(g.n for g in family) < 2 or (source and group.source != source):
                continue
            cam = cameras[group.camera_id]
            for f in _defects(store, family, window, top, min_score, None if kind is None else {kind}):
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


def _defects(
    store: Storage, family: list[Group], window: Window, top: int, min_score: float, kinds: set[str] | None
) -> list[DatedDefect]:
    """The family's dated defects: as kept for its state and these options, else computed and kept."""
    found = None
    if kept.KEEP:
        found = kept.lookup(store.catalog, family, window=window, top=top, min_score=min_score, kinds=kinds)
    if found is None:
        from hpstore.timeaxis.defects import family_defects  # the state and the ranking's kernels

        found = family_defects(store, family, window=window, top=top, min_score=min_score, kinds=kinds)
        if kept.KEEP:
            kept.keep(store.catalog, family, found, window=window, top=top, min_score=min_score, kinds=kinds)
    return found


def cameras(settings: Settings) -> list[dict[str, Any]]:
    """Every camera with its sources, geometries, photo count and capture date range."""
    with Storage(settings, create=False) as store:
        groups_by_camera: dict[int, list[Group]] = defaultdict(list)
        for group in store.catalog.groups():
            groups_by_camera[group.camera_id].append(group)
        counts = store.catalog.camera_spans()
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
    with Storage(settings, create=False) as store:
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


def show(
    settings: Settings, *, camera: str, pixel: str | tuple[int, int], source: str | None = None
) -> list[dict[str, Any]]:
    """Explain one pixel of one camera: per source and channel, its statistics next to its neighbourhood's,
    its class and why."""
    import numpy as np

    from hpstore.detect.rank import class_facts, evidence, explain, long_maps
    from hpstore.timeaxis.defects import is_defect, sightings, with_evidence
    from hpstore.timeaxis.families import family_state
    from hpstore.timeaxis.window import layout_of

    row, col = parse_pixel(pixel)
    with Storage(settings, create=False) as store:
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
            layout = layout_of(group)
            ev = evidence(state.mean, np.sqrt(state.m2 / state.n), layout=layout, pairs=state.pairs, n=state.n)
            at = (row - rows.start, col - cols.start)
            explained = explain(
                ev, *at, state.n, layout=layout, classes=classes, maps=long_maps(classes, layout=layout)
            )
            # explain() numbers rows and columns within the window read; the photos' evidence, in the frame
            framed = [replace(found, row=row, col=col) for found, _ in explained]
            sights = sightings(with_evidence(store, family, fs.photos), group, framed)
            for c, ((cand, entry), sight) in enumerate(zip(explained, sights, strict=True)):
                entry.update(row=row, col=col)
                entry["exposure_classes"] = class_facts(classes, parts, *at, c, layout=layout)
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
