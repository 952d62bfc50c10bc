"""Which states a read reads: a camera's groups of one source and size (a *family*, one group per exposure
class and calendar period), the capture-date window asked for, and a group's layout. Light: no states are
read here."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from hpstore.detect.cfa import Layout
from hpstore.detect.classes import Levels
from hpstore.store.catalog import Group
from hpstore.timeaxis import periods


@dataclass(frozen=True)
class Window:
    """Capture dates ``since <= t < until``; either end may be open."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @property
    def bounded(self) -> bool:
        return self.since is not None or self.until is not None

    def contains(self, when: dt.datetime | None) -> bool:
        if not self.bounded:
            return True
        if when is None:
            return False
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)

    def covers(self, group: Group) -> str:
        """``all``, ``none`` or ``part`` of the group's photos fall inside the window."""
        if not self.bounded:
            return "all"
        span = periods.span(group.period)
        if span is None:
            return "none" if group.period == periods.UNDATED else "part"
        start, end = span
        if (self.since is None or start >= self.since) and (self.until is None or end <= self.until):
            return "all"
        if (self.until is not None and start >= self.until) or (self.since is not None and end <= self.since):
            return "none"
        return "part"


def families(groups: list[Group]) -> list[list[Group]]:
    """Groups of one camera, source and image size (one per exposure class and period), in catalog order."""
    out: dict[tuple[int, str, int, int, int, int], list[Group]] = defaultdict(list)
    for g in groups:
        out[(g.camera_id, g.source, g.height, g.width, g.channels, g.bits)].append(g)
    return list(out.values())


def layout_of(group: Group) -> Layout:
    """A group's layout: its source and colour pattern, and its black and white levels (RAW: as the camera
    gives them; else the bit depth's range)."""
    if group.source == "raw" and group.white_level:
        levels = Levels(group.black_level or 0.0, group.white_level)
    else:
        levels = Levels(0.0, float((1 << group.bits) - 1))
    return Layout(group.source, group.pattern, levels)
