"""A family's defects over a date window: ranked, completed from its latest year, and dated.

The ranking of all photos in the window finds defects that were there most of the time. A defect that
appeared late is diluted by the photos taken before it, and its class reads wrong: a pixel that froze a
year ago looks like a fixed offset over ten years. So the latest year inside the window is ranked on its
own as well (the calendar year of the window's last photo): its defects that the whole window missed are
added, and a defect that appeared before that year began takes its class from it (photos after its onset
only). Each point defect is then dated by its first and last sighting (``hpstore.timeaxis.onset``), and the
per-photo evidence drops scene light that the means could not tell from a defect (``hpstore.timeaxis.onset``).

The answer is a function of the committed state, the per-photo evidence and the options alone, so the first
query of a state keeps it in the catalog (``hpstore.timeaxis.kept``: under the family, a version of its state
and the options) and the next query with the same options reads it back instead of ranking again. Any commit,
compaction, refiling or re-dating changes the version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from hpstore.detect.classes import Candidate, since_onset
from hpstore.detect.rank import rank
from hpstore.stats import State
from hpstore.store.catalog import Group, Photo
from hpstore.store.storage import Storage
from hpstore.timeaxis import onset, periods
from hpstore.timeaxis.exposure import LONG, ClassMean
from hpstore.timeaxis.families import family_state
from hpstore.timeaxis.kept import DatedDefect
from hpstore.timeaxis.window import Window, layout_of

DARK = ("hot", "warm")  # classes that only long exposures and dark scenes show
SPARE = 10  # candidates ranked beyond ``top`` to make up for those the per-photo evidence rejects


def _latest_window(photos: Sequence[Photo], window: Window) -> Window | None:
    """The calendar year of the window's last photo (from ``window.since`` if later), when the window holds
    photos from before it. A calendar year, whatever the store's periods, so that the answer does not depend
    on how the store is laid out; with yearly or finer periods it needs no photo from disk."""
    dated = [p.capture_time for p in photos if p.capture_time is not None]
    if not dated:
        return None
    start = dt.datetime(dated[-1].year, 1, 1)
    if window.since is not None:
        start = max(start, window.since)
    if dated[0] >= start:
        return None  # the whole window lies in its latest year
    return Window(start, window.until)


def _same(a: Candidate, b: Candidate, reach: int) -> bool:
    if a.row is None or b.row is None or a.col is None or b.col is None:
        return a.kind == b.kind and a.row == b.row and a.col == b.col
    return abs(a.row - b.row) <= reach and abs(a.col - b.col) <= reach


def with_evidence(store: Storage, family: list[Group], counted: Sequence[Photo]) -> list[Photo]:
    """The photos ``counted`` with their per-photo evidence, in capture order (one catalog read)."""
    ids = {p.id for p in counted}
    return [p for p in store.catalog.photos([g.id for g in family], standouts=True) if p.id in ids]


def sightings(photos: Sequence[Photo], group: Group, found: Sequence[Candidate]) -> list[onset.Seen | None]:
    """First and last sight of each point candidate in ``found`` (None for lines) among ``photos`` (from
    :func:`with_evidence`) of ``group``'s family."""
    shape = (group.height, group.width, group.channels)
    targets = [
        onset.target(
            c.row,
            c.col,
            shape,
            source=group.source,
            sign=-1 if c.z_mean < 0 else 1,
            dark=c.kind in DARK,
            total=abs(c.mean - c.neighbour_mean) * c.n,
        )
        for c in found
        if c.row is not None and c.col is not None
    ]
    table = onset.hits(photos, targets)
    sights = iter([onset.seen(photos, table, i, t) for i, t in enumerate(targets)])
    return [next(sights) if c.row is not None and c.col is not None else None for c in found]


def is_defect(cand: Candidate, seen: onset.Seen | None) -> bool:
    """Whether the per-photo evidence leaves a candidate a defect: not scene light of one burst or one or
    two photos; when its neighbours share its excess (light in the scene, by the means alone) or its
    photos do not set it apart one by one (``unconfirmed``), only if it stood out in photos of many
    different scenes; never when both (measured: 7 of 8 such entries were stars of tracked bursts)."""
    if (seen is not None and seen.scene) or (cand.extended and cand.unconfirmed):
        return False  # scene light by the photos one by one, or by its neighbours and its photos both
    return not (cand.extended or cand.unconfirmed) or (seen is not None and seen.persistent)


def _share_after(photos: Sequence[Photo], first: dt.datetime, long_ids: set[int]) -> float:
    """The share of ``photos`` (those of the groups ``long_ids``, the long exposures, if any) taken from
    ``first`` on."""
    long = [p for p in photos if p.group_id in long_ids] or list(photos)
    dated = [p.capture_time for p in long if p.capture_time is not None]
    return sum(t >= first for t in dated) / len(dated) if dated else 1.0


def _appeared_before(seen: onset.Seen | None, latest: Window | None) -> bool:
    """Whether a defect appeared partway through the window, before its latest year began."""
    if seen is None or seen.first is None or not seen.appeared or latest is None or latest.since is None:
        return False
    return seen.first < latest.since


def family_defects(
    store: Storage,
    family: list[Group],
    *,
    window: Window,
    top: int,
    min_score: float,
    kinds: set[str] | None,
) -> list[DatedDefect]:
    """The family's ``top`` defects over ``window``, best first, dated, computed from the state (the read
    side keeps the answer: ``hpstore.timeaxis.kept``)."""
    group = family[0]
    fs = family_state(store, family, window=window, light=True)
    if fs is None or fs.n < 2:
        return []
    layout = layout_of(group)

    def ranked(state: State, classes: Sequence[ClassMean]) -> list[Candidate]:
        return rank(
            state,
            layout=layout,
            top=top + SPARE,
            min_score=min_score,
            kinds=kinds,
            classes=classes,
            keep_extended=True,
        )

    # A few more than asked: some turn out to be scene light of one burst and leave the list.
    whole = ranked(fs.state, fs.classes)
    photos = with_evidence(store, family, fs.photos)
    del fs  # gigabytes on a large sensor: free before the latest year's state is read
    sights = sightings(photos, group, whole)
    kept = [(c, s) for c, s in zip(whole, sights, strict=True) if is_defect(c, s)]
    whole, sights = [c for c, _ in kept], [s for _, s in kept]
    latest_window = _latest_window(photos, window)
    if any(g.period == periods.ALL for g in family):
        latest_window = None  # a store from before periods: its latest year would be read from disk each time
    latest: list[Candidate] = []
    if latest_window is not None:
        recent = family_state(store, family, window=latest_window, light=True)
        if recent is not None and recent.n >= 2:
            latest = ranked(recent.state, recent.classes)
        del recent
    # A dark defect that appeared partway: its rate since the onset, not averaged over the photos before.
    long_ids = {g.id for g in family if g.exposure == LONG}
    whole = [
        since_onset(c, _share_after(photos, s.first, long_ids), levels=layout.levels, source=group.source)
        if s is not None and s.appeared and s.first is not None
        else c
        for c, s in zip(whole, sights, strict=True)
    ]
    reach = 1 if group.source == "rgb" else 0
    out: list[DatedDefect] = []
    used: set[int] = set()
    for cand, seen in zip(whole, sights, strict=True):
        match = next((i for i, c in enumerate(latest) if i not in used and _same(c, cand, reach)), None)
        if match is not None:
            used.add(match)
            if _appeared_before(seen, latest_window):
                # The latest year shows it without the photos from before its onset.
                kind = latest[match].kind
                out.append(DatedDefect(replace(cand, kind=kind), seen, kind != cand.kind))
                continue
        out.append(DatedDefect(cand, seen, False))
    extra = [c for i, c in enumerate(latest) if i not in used]
    for cand, seen in zip(extra, sightings(photos, group, extra), strict=True):
        if is_defect(cand, seen):
            out.append(DatedDefect(cand, seen, True))
    out.sort(key=lambda f: -f.candidate.score)
    return out[:top]
