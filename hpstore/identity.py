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

from .catalog import DUPLICATE, INGESTED, Camera, File, Group, Photo
from .errors import DecodeError, StateError, WindowError
from .family import committed_state, reread
from .io import READER, PhotoInfo, fs_path, probe
from .stats import State, merge_into
from .store import Store


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
    unreadable: list[str] = field(default_factory=list)  # "path: reason" of photos that cannot be read


def find_misfiled(store: Store, workers: int) -> Reidentified:
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
            if isinstance(result, str):
                found.unreadable.append(f"{row.path}: {result}")
                continue
            key, make, model, serial = camera_identity(result)
            old = cameras[row.camera_id or 0]
            if key == old.key:
                found.unchanged.append(row.id)
            else:
                found.misfiled.append(Misfiled(row, old.key, key, make, model, serial))
    return found


def _identify(row: File) -> PhotoInfo | str:
    try:
        return probe(fs_path(row.path, row.path_bytes))
    except DecodeError as err:
        return f"cannot identify it again ({err})"


@dataclass
class Refiled:
    """What :func:`refile` did: files moved, groups rebuilt, and what it could not do."""

    moved: int = 0
    rebuilt: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def refile(store: Store, found: Reidentified, *, on_group: Callable[[str], None] | None = None) -> Refiled:
    """Move misfiled photos to their cameras and rebuild the states concerned from the photos.

    A source group that loses some of its photos is rebuilt from the photos it keeps; one that loses all
    is emptied; a target group gets the moved photos' frames merged in. A photo that cannot be read again
    (gone, or changed since it was ingested) keeps its group, and so do the photos that would leave it.
    Only the caller's writer lock makes this safe.
    """
    done = Refiled()
    groups = {g.id: g for g in store.catalog.groups()}
    moves = [m for m in found.misfiled if m.file.status == INGESTED]
    # Where each moved photo goes: its new camera, and the group of the same source, geometry, exposure
    # class and period there.
    target: dict[int, Group] = {}
    for move in moves:
        old = groups.get(move.file.group_id or 0)
        if old is None:
            continue
        camera = store.catalog.camera(move.new_key, move.make, move.model, move.serial)
        target[move.file.id] = _sibling(store, old, camera)
    members = _members(store, list(groups.values()))
    leaving: dict[int, list[Photo]] = defaultdict(list)
    arriving: dict[int, list[Photo]] = defaultdict(list)
    by_id = {p.id: p for photos in members.values() for p in photos}
    for move in moves:
        if move.file.id in target and move.file.id in by_id:
            leaving[move.file.group_id or 0].append(by_id[move.file.id])
            arriving[target[move.file.id].id].append(by_id[move.file.id])
    new_states: dict[int, tuple[int, int]] = {}  # group -> (n, generation)
    blocked: set[int] = set()  # photos that must stay where they are
    for gid, out in leaving.items():
        kept = [p for p in members[gid] if p.id not in {q.id for q in out}]
        if not kept:
            new_states[gid] = (0, 0)
            continue
        try:
            state = _rebuild(store, groups[gid], kept, on_group)
        except (WindowError, StateError) as err:
            done.problems.append(f"group {gid} not rebuilt, its photos stay: {err}")
            blocked.update(p.id for p in out)
            continue
        new_states[gid] = _write(store, groups[gid], state)
    for gid, photos in arriving.items():
        photos = [p for p in photos if p.id not in blocked]
        if not photos:
            continue
        group = store.catalog.get_group(gid)
        try:
            state = _rebuild(store, group, photos, on_group)
            if group.n:
                merge_into(state, committed_state(store, group))
        except (WindowError, StateError) as err:
            done.problems.append(f"group {gid} not extended: {err}")
            blocked.update(p.id for p in photos)
            continue
        new_states[gid] = _write(store, group, state)
    file_moves = {
        m.file.id: (target[m.file.id].camera_id, target[m.file.id].id)
        for m in moves
        if m.file.id in target and m.file.id not in blocked
    }
    # Duplicates follow their camera; their content is counted elsewhere, so no state changes.
    for m in found.misfiled:
        if m.file.status == DUPLICATE and m.file.group_id in groups:
            camera = store.catalog.camera(m.new_key, m.make, m.model, m.serial)
            file_moves[m.file.id] = (camera.id, _sibling(store, groups[m.file.group_id], camera).id)
    old_generations = {gid: groups[gid].generation if gid in groups else 0 for gid in new_states}
    stamped = [*found.unchanged, *file_moves]
    store.catalog.refile(new_states, file_moves, stamped, READER)
    for gid, generation in old_generations.items():
        if generation and generation != new_states[gid][1]:
            store.state.drop(gid, generation)
    done.moved = len(file_moves)
    done.rebuilt = sorted(new_states)
    return done


def _sibling(store: Store, group: Group, camera: Camera) -> Group:
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


def _members(store: Store, groups: list[Group]) -> dict[int, list[Photo]]:
    out: dict[int, list[Photo]] = {g.id: [] for g in groups}
    for photo in store.catalog.photos([g.id for g in groups]):
        if photo.group_id is not None:
            out[photo.group_id].append(photo)
    return out


def _rebuild(store: Store, group: Group, photos: list[Photo], on_group: Callable[[str], None] | None) -> State:
    if on_group is not None:
        on_group(f"reading {len(photos)} photos again for group {group.id}")
    shape = (group.height, group.width, group.channels)
    return reread(photos, shape, slice(None), slice(None))


def _write(store: Store, group: Group, state: State) -> tuple[int, int]:
    generation = group.generation + 1
    store.state.write(group.id, generation, state)
    return state.n, generation
