"""A family: the groups of one camera, source and image size, one per exposure class and period.

Every query works on a family's merged state. Without a date window that is the merge of all its groups.
With one (``--since``/``--until``) it is the merge of the groups whose period lies inside the window, plus,
for a period the window cuts through, the photos of that period inside the window, read again from disk
(their content hash is checked). The result equals the state of a store that ingested only the photos in
the window, to float64 rounding.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from hpstore.detect.cfa import pair_distance
from hpstore.errors import DecodeError, StateError, WindowError
from hpstore.stats import State, empty, merge_into, update
from hpstore.store.catalog import Group, Photo
from hpstore.store.storage import Storage
from hpstore.timeaxis.exposure import ClassMean, dark_weight
from hpstore.timeaxis.window import Window

_REREAD_BATCH = 16


def committed_state(
    store: Storage,
    group: Group,
    rows: slice = slice(None),
    cols: slice = slice(None),
    attempts: int = 5,
    *,
    light: bool = False,
) -> State:
    """The group's last committed state (or a window of it; ``light``: for reading only, see
    :meth:`hpstore.store.state.StateStore.reader`). An ingest may commit (and drop the generation we were
    about to read) meanwhile: then the catalog is asked again for the current generation."""
    for attempt in range(attempts):
        try:
            return store.state.read(group.id, group.generation, group.n, rows, cols, light=light)
        except StateError:
            if attempt == attempts - 1:
                raise
            group = store.catalog.get_group(group.id)
    raise AssertionError("unreachable")


def read_frame(photo: Photo, shape: tuple[int, ...]) -> np.ndarray:
    """An ingested photo's pixel array read again from disk, its content hash checked; ``WindowError`` says
    why it cannot be."""
    from hpstore.io import decode_into, fs_path, probe  # the decoders load only when a photo is read again

    path = fs_path(photo.path, photo.path_bytes)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise WindowError(f"{photo.path}: cannot read it again ({err.strerror or err})") from err
    if hashlib.sha256(data).hexdigest() != photo.hash:
        raise WindowError(f"{photo.path}: changed on disk since it was ingested")
    info = probe(path)
    frame = np.empty(info.shape, info.dtype)
    try:
        decode_into(data, info, frame)
    except DecodeError as err:
        raise WindowError(f"{photo.path}: {err}") from err
    if frame.shape != shape:
        raise WindowError(f"{photo.path}: its pixel array is {frame.shape}, the group's {shape}")
    return frame


def reread(photos: list[Photo], shape: tuple[int, ...], rows: slice, cols: slice, d: int | None = None) -> State:
    """The state of ``photos`` read again from disk (the window ``rows``/``cols`` of it), with neighbour
    pairs at distance ``d`` when given and the window is whole frames (a cut has no partners at its edge)."""
    whole = rows == slice(None) and cols == slice(None)
    state: State | None = None
    frames: list[np.ndarray] = []
    for photo in photos:
        frames.append(read_frame(photo, shape)[rows, cols])
        if state is None:
            state = empty(frames[-1].shape, d if whole else None)
        if len(frames) == _REREAD_BATCH:
            update(state, np.stack(frames))
            frames.clear()
    if state is None:
        raise AssertionError("reread needs at least one photo")
    if frames:
        update(state, np.stack(frames))
    return state


@dataclass
class FamilyState:
    """A family's merged state (or a window of it) and each exposure class's part."""

    state: State
    classes: list[ClassMean]
    parts: list[State]  # each class's whole state, with ``keep`` only
    photos: list[Photo]  # the photos counted, in capture order

    @property
    def n(self) -> int:
        return self.state.n


def family_state(
    store: Storage,
    family: list[Group],
    rows: slice = slice(None),
    cols: slice = slice(None),
    *,
    keep: bool = False,
    window: Window | None = None,
    light: bool = False,
) -> FamilyState | None:
    """The merged state of a family's groups inside ``window`` (all by default), or None without photos.

    Each exposure class is merged over its periods first, then the classes are merged; without ``keep`` the
    result reuses the first class's arrays (a 24 MP RGB state is 1.15 GB). ``light``: for ranking, which
    reads m2 at its candidates only: when one committed group holds all the photos, its m2 is read where
    indexed and its pairs keep their stored width."""
    window = window or Window()
    first = family[0]
    shape = (first.height, first.width, first.channels)
    photos = [p for p in store.catalog.photos([g.id for g in family]) if window.contains(p.capture_time)]
    by_group: dict[int | None, list[Photo]] = defaultdict(list)
    for p in photos:
        by_group[p.group_id].append(p)
    read = [g for g in family if g.n and window.covers(g) != "none" and by_group[g.id]]
    light = light and len(read) == 1 and window.covers(read[0]) == "all"
    by_class: dict[str, list[Group]] = defaultdict(list)  # in the family's order: it sets the merge order
    for g in family:
        by_class[g.exposure].append(g)
    classes: list[ClassMean] = []
    parts: list[State] = []
    for name, groups in by_class.items():
        merged: State | None = None
        for g in groups:
            if g not in read:
                continue
            if window.covers(g) == "all":
                part = committed_state(store, g, rows, cols, light=light)
            else:
                try:
                    part = reread(by_group[g.id], shape, rows, cols, pair_distance(g.source, g.pattern))
                except WindowError as err:
                    raise WindowError(
                        f"{err}; the date window cuts period {g.period}, whose photos must be read again: "
                        "restore the file, or choose since/until on a period boundary (e.g. until 2021)"
                    ) from err
            if merged is None:
                merged = part
            else:
                merge_into(merged, part)
        if merged is None:
            continue
        photos_of = [p for g in groups for p in by_group[g.id]]
        timed = [(w, p) for p in photos_of if (w := dark_weight(p.exposure_time, p.iso)) is not None]
        weights = np.asarray([w for w, _ in timed], float)
        gains = np.asarray([(p.iso or 100.0) / 100.0 for _, p in timed], float)
        classes.append(ClassMean(name, merged.n, weights, merged.mean, merged.pairs, gains))
        parts.append(merged)
    if not parts:
        return None
    total = parts[0]
    if len(parts) > 1:
        pairs = total.pairs.copy() if total.pairs is not None else None  # the class keeps its own
        total = State(total.n, total.mean.copy(), total.m2.copy() if keep else total.m2, pairs)
    for part in parts[1:]:
        merge_into(total, part)
    return FamilyState(total, classes, parts if keep else [], photos)
