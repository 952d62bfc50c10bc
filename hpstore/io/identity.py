"""Which camera a photo belongs to, and moving photos that an older reader filed under the wrong one.

A camera is make, model and body serial (see ``hpstore.io.metadata.body_serial``): two bodies of one model
with different serials never share a state. Stores made by an older reader (``files.reader`` below
``hpstore.io.READER``) can hold photos of several bodies in one camera: serials it did not find in
MakerNotes, DNGs whose directories it did not reach. :func:`find_misfiled` reads those photos' identity
again; :func:`refile` moves them to their camera and rebuilds the states concerned from the photos
(content hashes checked), crash-safe like a commit: every new generation is written first, then one
catalog transaction switches groups and files, then the old generations are deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from hpstore.detect.cfa import pair_distance
from hpstore.errors import DecodeError, WindowError
from hpstore.io import READER, PhotoInfo, fs_path, probe
from hpstore.stats import State, empty, merge_into, remove_from
from hpstore.store.catalog import DUPLICATE, INGESTED, Camera, File, Group, Photo
from hpstore.store.storage import Storage
from hpstore.timeaxis.families import reread


def camera_identity(info: PhotoInfo) -> tuple[str, str | None, str | None, str | None]:
    """(key, make, model, serial): serial when known, else make+model, else "unknown" by array size.

    Two bodies of one model with different serials never share a key; without a serial, every body of a
    model shares one (``hpstore cameras`` says so)."""
    facts = info.facts
    if facts.make or facts.model:
        key = f"{facts.make or ''}|{facts.model or ''}|{facts.serial or ''}"
        return key, facts.make, facts.model, facts.serial
    return f"unknown|{info.width}x{info.height}", None, None, None


def describe(key: str) -> str:
    """A camera key as people read it: "Canon EOS 20D #330113864", "unknown camera 1000x700"."""
    if key.startswith("unknown|"):
        return f"unknown camera {key.removeprefix('unknown|')}"
    make, model, serial = [*key.split("|"), "", ""][:3]
    return " ".join(part for part in (make, model, f"#{serial}" if serial else "") if part)


@dataclass(frozen=True)
class Misfiled:
    """A cataloged photo that the current reader gives another camera."""

    file: File
    old_key: str
    new_key: str
    make: str | None
    model: str | None
    serial: str | None

    def describe(self) -> str:
        return f"{self.file.path}: {describe(self.old_key)} -> {describe(self.new_key)}"


@dataclass
class Reidentified:
    """What reading old photos' identity again found."""

    misfiled: list[Misfiled] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # file ids whose identity stands
    unreadable: list[tuple[File, str, str]] = field(default_factory=list)  # (row, its camera's key, why)


def find_misfiled(store: Storage, workers: int) -> Reidentified:
    """Read again the identity of every ingested (or duplicate) photo that an older reader identified."""
    cameras = {c.id: c for c in store.catalog.cameras()}
    rows = [
        f
        for f in store.catalog.files()
        if f.status in (INGESTED, DUPLICATE) and (f.reader or 1) < READER and f.camera_id in cameras
    ]
    found = Reidentified()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hpstore-identify") as pool:
        for row, result in zip(rows, pool.map(_identify, rows), strict=True):
            old = cameras[row.camera_id or 0]
            if isinstance(result, str):
                found.unreadable.append((row, old.key, result))
                continue
            key, make, model, serial = camera_identity(result)
            if key == old.key:
                found.unchanged.append(row.id)
            else:
                found.misfiled.append(Misfiled(row, old.key, key, make, model, serial))
    return found


def _identify(row: File) -> PhotoInfo | str:
    try:
        return probe(fs_path(row.path, row.path_bytes))
    except DecodeError as err:
        return str(err)


@dataclass
class Refiled:
    """What :func:`refile` did: photos moved, groups given new states, and the photos that stayed."""

    moved: int = 0
    rebuilt: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class _Move:
    photo: Photo
    source: Group
    target: Group
    old_key: str


def refile(store: Storage, found: Reidentified, *, on_group: Callable[[str], None] | None = None) -> Refiled:
    """Move misfiled photos to their cameras, and give every group concerned its new state.

    The moved photos are read again (content hashes checked): their frames are merged into the group of
    their camera with the same source, geometry, exposure class and period, and taken out of the group
    they leave (``stats.remove_from``; a group that loses all its photos is deleted). A photo that cannot
    be read again (gone, changed since it was ingested) stays where it is and is named. Nothing is
    switched until every new generation is written: one catalog transaction moves groups and files.
    Only the caller's writer lock makes this safe.
    """
    done = Refiled()
    groups = {g.id: g for g in store.catalog.groups()}
    photos = {p.id: p for p in store.catalog.photos(list(groups))}
    moves: dict[tuple[int, int], list[_Move]] = defaultdict(list)  # (source, target) -> moves
    for m in found.misfiled:
        photo, source = photos.get(m.file.id), groups.get(m.file.group_id or 0)
        if m.file.status != INGESTED or photo is None or source is None:
            continue
        camera = store.catalog.camera(m.new_key, m.make, m.model, m.serial)
        target = _sibling(store, source, camera)
        moves[(source.id, target.id)].append(_Move(photo, source, target, m.old_key))
    pending: dict[int, tuple[int, int]] = {}  # group -> (n, generation) written, not yet committed
    moved: dict[int, tuple[int, int]] = {}  # file -> (camera, group)
    try:
        for (source_id, target_id), batch in sorted(moves.items()):
            if on_group is not None:
                on_group(f"reading {len(batch)} photos again to move them from group {source_id} to {target_id}")
            frames, stayed = _read_again(batch)
            done.problems.extend(
                f"{move.photo.path}: {why}; it stays with {describe(move.old_key)}" for move, why in stayed
            )
            if frames is None:
                continue
            leaving = remove_from(_current(store, groups[source_id], pending), frames)
            pending[source_id] = _write(store, groups[source_id], leaving, pending)
            joined = merge_into(frames, _current(store, batch[0].target, pending))
            pending[target_id] = _write(store, batch[0].target, joined, pending)
            staying = {move.photo.id for move, _ in stayed}
            for move in batch:
                if move.photo.id not in staying:
                    moved[move.photo.id] = (move.target.camera_id, move.target.id)
        # Duplicates follow their camera; their content is counted elsewhere, so no state changes.
        for m in found.misfiled:
            if m.file.status == DUPLICATE and m.file.group_id in groups:
                camera = store.catalog.camera(m.new_key, m.make, m.model, m.serial)
                moved[m.file.id] = (camera.id, _sibling(store, groups[m.file.group_id or 0], camera).id)
        store.catalog.refile(pending, moved, [*found.unchanged, *moved], READER)
    except BaseException:
        for gid, (_, generation) in pending.items():
            store.state.drop(gid, generation)  # never committed: free the space now
        raise
    for gid, (_, generation) in pending.items():
        for old in store.state.generations(gid):
            if old != generation:
                store.state.drop(gid, old)  # the replaced generation, and any written in between
    done.moved = len(moved)
    done.rebuilt = sorted(pending)
    return done


def _sibling(store: Storage, group: Group, camera: Camera) -> Group:
    """The group of ``camera`` with ``group``'s source, geometry, exposure class and period."""
    return store.catalog.group(
        camera.id,
        group.source,
        group.height,
        group.width,
        group.channels,
        group.bits,
        group.exposure,
        group.period,
        pattern=group.pattern,
        black_level=group.black_level,
        white_level=group.white_level,
    )


def _current(store: Storage, group: Group, pending: dict[int, tuple[int, int]]) -> State:
    """A group's whole state: the one this repair wrote for it, else the committed one."""
    n, generation = pending.get(group.id, (group.n, group.generation))
    if n == 0:
        return empty((group.height, group.width, group.channels), pair_distance(group.source, group.pattern))
    return store.state.read(group.id, generation, n)


def _write(store: Storage, group: Group, state: State, pending: dict[int, tuple[int, int]]) -> tuple[int, int]:
    """Write ``state`` as the group's next generation (not switched to yet); a group left without frames
    gets none (generation 0)."""
    if state.n == 0:
        return 0, 0
    _, last = pending.get(group.id, (group.n, group.generation))
    generation = max([last, group.generation, *store.state.generations(group.id)]) + 1
    store.state.write(group.id, generation, state)
    return state.n, generation


def _read_again(moves: list[_Move]) -> tuple[State | None, list[tuple[_Move, str]]]:
    """The state of the moved photos' frames, read again from disk with their content hashes checked; and
    the moves whose photo cannot be read again, with the reason."""
    shape = (moves[0].source.height, moves[0].source.width, moves[0].source.channels)
    state: State | None = None
    stayed: list[tuple[_Move, str]] = []
    for move in moves:
        try:
            d = pair_distance(move.source.source, move.source.pattern)
            frames = reread([move.photo], shape, slice(None), slice(None), d)
        except WindowError as err:
            stayed.append((move, str(err).removeprefix(f"{move.photo.path}: ")))
            continue
        state = frames if state is None else merge_into(state, frames)
    return state, stayed
