"""Compaction: merge the old periods of each camera into one, to bound the store's size over the years.

A dense state costs the same whatever the number of photos in it (about 13 bytes per photosite compressed,
per exposure class), so ten yearly periods cost ten whole-life states. ``compact(before=DATE)`` merges, per
camera, source, geometry and exposure class, the periods that end by DATE into one group labelled
``FIRST..LAST`` (Chan merge, exact). Nothing is lost for the default query, ``first_seen``/``last_seen`` (they
come from the per-photo evidence) or history's per-photo columns; ``--since``/``--until`` inside the merged
span re-read its photos from disk, and history has no dense statistics for its single periods. The
calendar year of a camera's last photo is never merged: queries rank it on its own (``hpstore.timeaxis.defects``).

Crash-safe like a commit: the merged state is written as a new group first, then one catalog transaction
moves the files to it and deletes the old groups, then their arrays are deleted (what a crash leaves
behind is garbage the next writer collects).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from hpstore.commands.choose import camera_label, select_cameras
from hpstore.settings import Settings
from hpstore.stats import merge_into
from hpstore.store.catalog import Group
from hpstore.store.storage import Storage, state_of
from hpstore.timeaxis import periods
from hpstore.timeaxis.families import committed_state
from hpstore.timeaxis.window import families


@dataclass
class CompactReport:
    merged: list[dict[str, Any]] = field(default_factory=list)
    bytes_before: int = 0
    bytes_after: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"merged": self.merged, "bytes_before": self.bytes_before, "bytes_after": self.bytes_after}


def state_bytes(settings: Settings) -> int:
    """Bytes the store's Zarr state takes on disk (or in its object store)."""
    return state_of(settings).nbytes()


def _mergeable(groups: list[Group], before: dt.datetime) -> list[Group]:
    """The dated groups with photos whose whole span ends by ``before``, in time order."""
    out = []
    for g in groups:
        span = periods.span(g.period)
        if g.n > 0 and span is not None and span[1] <= before:
            out.append((span[0], g))
    return [g for _, g in sorted(out, key=lambda item: item[0])]


def compact(
    settings: Settings, *, before: str | dt.date, camera: str | None = None, dry_run: bool = False
) -> CompactReport:
    """Merge, per camera, source, geometry and exposure class, the periods that end by ``before``."""
    until = periods.bound(before)
    assert until is not None
    report = CompactReport()
    Storage.require(settings)
    # A dry run only reads: no writer lock, no schema upgrade, no garbage collection.
    writer = Storage.writer_lock(settings, wait=True, mark_run=False)
    lock = nullcontext() if dry_run else writer
    with lock, Storage(settings, create=not dry_run) as store:
        if not dry_run:
            store.collect_garbage()
        report.bytes_before = state_bytes(settings)
        cams = {c.id: c for c in select_cameras(store.catalog.cameras(), camera)}
        for family in families(store.catalog.groups(cams)):
            by_class: dict[str, list[Group]] = defaultdict(list)
            for g in family:
                by_class[g.exposure].append(g)
            # The calendar year of the family's last photo stays apart: queries rank it on its own.
            dated = [p.capture_time for p in store.catalog.photos([g.id for g in family])]
            last = max((t for t in dated if t is not None), default=None)
            limit = min(until, dt.datetime(last.year, 1, 1)) if last else until
            for exposure, groups in by_class.items():
                old = _mergeable(groups, limit)
                if len(old) < 2:
                    continue
                label = f"{old[0].period.split('..')[0]}..{old[-1].period.split('..')[-1]}"
                report.merged.append(
                    {
                        "camera": camera_label(cams[old[0].camera_id]),
                        "source": old[0].source,
                        "exposure": exposure,
                        "periods": [g.period for g in old],
                        "into": label,
                        "photos": sum(g.n for g in old),
                    }
                )
                if not dry_run:
                    _merge(store, old, label)
        if not dry_run:
            store.collect_garbage()
        report.bytes_after = state_bytes(settings)
    return report


def _merge(store: Storage, old: list[Group], label: str) -> None:
    first = old[0]
    state = committed_state(store, first)
    for g in old[1:]:
        merge_into(state, committed_state(store, g))
    target = store.catalog.group(
        first.camera_id,
        first.source,
        first.height,
        first.width,
        first.channels,
        first.bits,
        first.exposure,
        label,
        pattern=first.pattern,
        black_level=first.black_level,
        white_level=first.white_level,
    )
    store.state.write(target.id, 1, state)
    store.catalog.merge_groups([g.id for g in old], target.id, state.n, 1)
    for g in old:
        store.state.drop(g.id, g.generation)
