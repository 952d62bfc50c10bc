"""Ingest: discover files, identify them, fold new photos into their group states, commit.

Work flows one way. The main thread owns the catalog and the state (one writer) and coordinates; a thread
pool reads, hashes and decodes files straight into a ring of frame slots (JPEG decoding releases the GIL).
Every ``k`` ready frames are added to the group's exact integer sums (``stats.Sums``) by the same pool, in
pieces queued behind the decodes already in flight, so the cores are never oversubscribed. A commit writes
the committed state with the sums merged in as a new generation, chunk by chunk (no whole float64 state is
ever in memory), then switches the catalog to it with the files it counts, in one transaction (see
``hpstore.store.state``); a writer lock keeps a second ingest out.
"""

from __future__ import annotations

import hashlib
import signal
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpstore import stats
from hpstore.detect.cfa import pair_distance
from hpstore.errors import CatalogError, DecodeError, Interrupted, UnsupportedFormat
from hpstore.ingest import scan
from hpstore.io import READER, PhotoInfo, decode_into, discover, path_bytes, path_key, probe
from hpstore.io.identity import camera_identity
from hpstore.settings import Settings
from hpstore.store.catalog import DUPLICATE, FAILED, INGESTED, SKIPPED, Group
from hpstore.store.state import ChunkSource, Region, StateStore, arrays_of
from hpstore.store.storage import Storage
from hpstore.testing.faults import checkpoint
from hpstore.timeaxis import dating, periods
from hpstore.timeaxis.exposure import exposure_class


@dataclass(frozen=True)
class Event:
    """Progress of an ingest, for a front end to show: ``kind`` is ``phase``, ``advance``, ``problem`` or
    ``notice``; ``total`` goes with ``phase``, ``path``/``status`` with ``problem``."""

    kind: str
    text: str = ""
    total: int = 0
    path: str = ""
    status: str = ""


OnEvent = Callable[[Event], None]
RESUME = "Run the same command again to resume."


@dataclass
class IngestReport:
    """What an ingest did. Counts are files."""

    ingested: int = 0
    duplicates: int = 0
    failed: int = 0
    skipped: int = 0
    unchanged: int = 0
    changed: int = 0
    seconds: float = 0.0
    groups: list[int] = field(default_factory=list)
    reread: int = 0  # photos read again to date the defects found (``hpstore.timeaxis.dating``)

    def count(self, status: str) -> None:
        attr = {INGESTED: "ingested", DUPLICATE: "duplicates", FAILED: "failed", SKIPPED: "skipped"}[status]
        setattr(self, attr, getattr(self, attr) + 1)

    @property
    def summary(self) -> str:
        text = (
            f"ingested {self.ingested}, duplicates {self.duplicates}, failed {self.failed}, "
            f"skipped {self.skipped}, already in store {self.unchanged}"
        )
        if self.changed:
            text += f", changed since ingested {self.changed}"
        if self.reread:
            text += f", {self.reread} earlier photos read again to date defects"
        return text + f" in {self.seconds:.1f} s"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingested": self.ingested,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "skipped": self.skipped,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "seconds": round(self.seconds, 3),
            "groups": self.groups,
            "reread": self.reread,
        }


@dataclass
class _Todo:
    path: Path
    key: str
    size: int
    mtime: float
    info: PhotoInfo | None = None


def _row(todo: _Todo, status: str, reason: str | None = None, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "path": todo.key,
        "path_bytes": path_bytes(todo.path),
        "size": todo.size,
        "mtime": todo.mtime,
        "status": status,
        "reason": reason,
        "reader": READER,
    }
    info = todo.info
    if info is not None:
        facts = info.facts
        row.update(
            format=info.format,
            source=info.source,
            height=info.height,
            width=info.width,
            capture_time=facts.capture_time,
            exposure_time=facts.exposure_time,
            iso=facts.iso,
            temperature=facts.temperature,
            frame_type=facts.frame_type,
        )
        x, y = facts.pixels_per_mm or (None, None)
        row.update(px_per_mm_x=x, px_per_mm_y=y)
    row.update(extra)
    return row


def _load(path: Path, info: PhotoInfo, out: np.ndarray) -> tuple[str, bytes]:
    """Read, hash and decode one file into ``out``; return its SHA-256 and its packed standouts."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DecodeError(f"cannot read: {err.strerror or err}") from err
    digest = hashlib.sha256(data).hexdigest()
    decode_into(data, info, out)
    return digest, scan.scan(out, pair_distance(info.source, info.pattern)).pack()


class _Ingest:
    def __init__(self, store: Storage, settings: Settings, on_event: OnEvent) -> None:
        self.store = store
        self.settings = settings
        self.emit = on_event
        self.report = IngestReport()
        self.counted: dict[str, str] = {}  # hash -> path of content counted in this run
        self.stop = threading.Event()  # set by Ctrl-C / SIGTERM: stop at the next safe point
        self._buffers: _Buffers | None = None
        self.sized: dict[tuple[int, ...], int] = {}  # buffer key -> most photos of one group with that key

    def problem(self, todo_key: str, status: str, reason: str) -> None:
        self.report.count(status)
        self.emit(Event("problem", reason, path=todo_key, status=status))

    # ---- selection and identification ---------------------------------------------------------------

    def select(self, inputs: Sequence[str]) -> list[_Todo]:
        todos: list[_Todo] = []
        early: list[dict[str, Any]] = []
        for found in discover(inputs, exclude=self.store.own_files()):
            key = path_key(found.path)
            if found.problem:
                early.append(_row(_Todo(found.path, key, 0, 0.0), FAILED, found.problem, size=None, mtime=None))
                self.problem(key, FAILED, found.problem)
                continue
            try:
                st = found.path.stat()
            except OSError as err:
                reason = f"cannot read: {err.strerror or err}"
                early.append(_row(_Todo(found.path, key, 0, 0.0), FAILED, reason, size=None, mtime=None))
                self.problem(key, FAILED, reason)
                continue
            todos.append(_Todo(found.path, key, st.st_size, st.st_mtime))
        known = self.store.catalog.files_by_path([t.key for t in todos])
        fresh = []
        for todo in todos:
            row = known.get(todo.key)
            if row is None:
                fresh.append(todo)
            elif (
                row.size == todo.size
                and row.mtime == todo.mtime
                and (row.status in (INGESTED, DUPLICATE) or (row.reader or 1) >= READER)
            ):
                self.report.unchanged += 1
            elif row.status == INGESTED:
                # Counting it again would count this path twice; the old content stays in the state.
                self.report.changed += 1
                self.emit(
                    Event(
                        "problem",
                        "changed on disk since it was ingested; not counted again",
                        path=todo.key,
                        status="changed",
                    )
                )
            else:
                fresh.append(todo)  # failed or skipped before, and changed or read by older rules: try again
        self.store.catalog.record_files(early)
        return fresh

    def identify(self, todos: list[_Todo], pool: ThreadPoolExecutor) -> list[_Todo]:
        self.emit(Event("phase", "identifying", total=len(todos)))
        ok: list[_Todo] = []
        rows: list[dict[str, Any]] = []
        futures = [pool.submit(probe, t.path) for t in todos]
        for todo, future in zip(todos, futures, strict=True):
            if self.stop.is_set():
                for pending in futures:
                    pending.cancel()
                break
            try:
                todo.info = future.result()
                self.check_budget(todo.info)
                ok.append(todo)
            except UnsupportedFormat as err:
                rows.append(_row(todo, SKIPPED, str(err)))
                self.problem(todo.key, SKIPPED, str(err))
            except DecodeError as err:
                rows.append(_row(todo, FAILED, str(err)))
                self.problem(todo.key, FAILED, str(err))
            self.emit(Event("advance"))
        self.store.catalog.record_files(rows)
        if self.stop.is_set():
            raise Interrupted(f"interrupted while identifying files; nothing was lost. {RESUME}")
        return ok

    def check_budget(self, info: PhotoInfo) -> None:
        """Refuse a frame that would not fit the run's memory for decoded frames (``HPSTORE_BATCH_MB``)."""
        budget = self.settings.batch_mb << 20
        if info.nbytes > budget:
            raise DecodeError(
                f"a {info.width}x{info.height}x{info.channels} frame takes {info.nbytes / 2**20:.0f} MiB, more "
                f"than the {self.settings.batch_mb} MiB for decoded frames: raise HPSTORE_BATCH_MB to ingest it"
            )

    def grouped(self, todos: list[_Todo]) -> dict[int, list[_Todo]]:
        groups: dict[int, list[_Todo]] = defaultdict(list)
        unknown: dict[str, int] = defaultdict(int)
        # Most photos of a run share a few groups: look each camera and group up once (two catalog
        # queries a photo cost about 1.4 ms, half a second for a card of 320 photos).
        cameras: dict[str, int] = {}
        known: dict[tuple[Any, ...], int] = {}
        for todo in todos:
            assert todo.info is not None
            info = todo.info
            key, make, model, serial = camera_identity(info)
            if make is None and model is None:
                unknown[f"{info.width}x{info.height}"] += 1
            if key not in cameras:
                cameras[key] = self.store.catalog.camera(key, make, model, serial).id
            where = (
                cameras[key],
                info.source,
                info.height,
                info.width,
                info.channels,
                info.bits,
                exposure_class(info.facts.exposure_time, info.facts.iso),
                periods.label(info.facts.capture_time, self.settings.period),
            )
            if where not in known:
                known[where] = self.store.catalog.group(
                    *where, pattern=info.pattern, black_level=info.black_level, white_level=info.white_level
                ).id
            groups[known[where]].append(todo)
        for size, count in unknown.items():
            self.emit(Event("notice", f"{count} photo(s) without camera EXIF grouped as unknown camera {size}"))
        return groups

    # ---- accumulation ---------------------------------------------------------------------------------

    def accumulate(self, group: Group, todos: list[_Todo], pool: ThreadPoolExecutor) -> None:
        """Decode ``todos`` into a ring of frame slots and add every ``k`` ready frames to exact integer sums;
        a commit merges the sums into the group's committed float64 state as it writes the new generation.

        The ring holds ``k`` frames being gathered plus one per decoder, so decoders keep working while a
        batch is folded (by the same pool); memory is bounded by ``settings.batch_mb``, whatever the number
        of files.
        """
        info = todos[0].info
        assert info is not None
        ring, sums, k = self.buffers(info)
        free = list(range(len(ring)))
        inflight: deque[tuple[_Todo, int, Future[tuple[str, bytes]]]] = deque()
        ready: list[tuple[_Todo, int, tuple[str, bytes]]] = []
        pending: list[dict[str, Any]] = []
        last_commit = time.monotonic()
        queue = iter(todos)

        def fill() -> None:
            while free:
                todo = next(queue, None)
                if todo is None:
                    return
                slot = free.pop()
                inflight.append((todo, slot, pool.submit(_load, todo.path, todo.info or info, ring[slot])))

        def run(work: Callable[[int, int], None], pieces: list[tuple[int, int]]) -> None:
            # Fold on the decoder threads, after the decodes already queued: no core is oversubscribed.
            for future in [pool.submit(work, lo, hi) for lo, hi in pieces]:
                future.result()

        pieces = 4 * self.settings.workers

        fill()
        while inflight or ready:
            if self.stop.is_set():
                # A safe point: nothing is half folded. Unfolded frames are dropped, and their files stay
                # uncounted in the catalog, so the next run decodes them again.
                for _, _, future in inflight:
                    future.cancel()
                wait([f for _, _, f in inflight])
                self.commit(group, sums, pending)
                raise Interrupted(f"interrupted; {self.report.ingested} files committed by this run. {RESUME}")
            if inflight:
                todo, slot, future = inflight.popleft()
                try:
                    ready.append((todo, slot, future.result()))
                    checkpoint("decoded")
                except DecodeError as err:
                    free.append(slot)
                    pending.append(_row(todo, FAILED, str(err)))
                    self.problem(todo.key, FAILED, str(err))
                    fill()
                self.emit(Event("advance"))
            if len(ready) >= k or (ready and not inflight):
                if len(ready) > sums.room:
                    self.commit(group, sums, pending)  # before these frames' rows join ``pending``
                keep = self._dedupe(ready, group, pending)
                stats.add_slots(sums, ring, np.asarray(keep, np.int64), run, pieces)
                checkpoint("folded")
                free.extend(slot for _, slot, _ in ready)
                ready.clear()
                fill()
                if time.monotonic() - last_commit >= self.settings.commit_seconds:
                    self.commit(group, sums, pending)
                    last_commit = time.monotonic()
        self.commit(group, sums, pending)

    def buffers(self, info: PhotoInfo) -> tuple[np.ndarray, stats.Sums, int]:
        """The decode ring, the (empty) integer sums and the batch size for frames like ``info``'s.

        Groups of one frame size (exposure classes, periods) reuse them: fresh memory costs the kernel a page
        fault per page at first touch (a few GB for a 24 MP camera), and a hypervisor more than that. So the
        sums are sized to the largest of these groups in this run (``self.sized``; a group that outgrows them
        commits when they are full): a day's shoot takes integer types half as wide as a decade's archive.
        """
        key = _buffer_key(info)
        if self._buffers is None or self._buffers.key != key:
            self._buffers = None  # free the other size's buffers before taking new ones
            capacity, k = ring_size(info.nbytes, self.settings)
            ring = np.empty((capacity, *info.shape), info.dtype)
            d = pair_distance(info.source, info.pattern)
            sums = stats.sums_for(info.shape, info.dtype, d, frames=self.sized.get(key))
            self._buffers = _Buffers(key, ring, sums, k)
        found = self._buffers
        assert found.sums.n == 0, "the last group committed all its frames"
        return found.ring, found.sums, found.k

    def commit(self, group: Group, sums: stats.Sums, pending: list[dict[str, Any]]) -> None:
        """Write the committed state with ``sums`` merged in as a new generation, then switch the catalog to it
        with the files it counts; then empty the sums. Without new frames only the files' rows are recorded."""
        if not pending:
            return
        old, new, n = group.generation, group.generation, group.n + sums.n
        if sums.n:
            new = old + 1
            pair_d = self.pair_d(group, sums.d)
            merged = _merged(self.store.state, (group.id, old, group.n), sums)
            self.store.state.write_from(group.id, new, sums.shape, n, merged, pair_d)
            checkpoint("state-written")
        self.commit_generation(group, new, n, pending)
        if sums.n:
            sums.clear()  # touches every page: not for a commit of failures only

    def commit_generation(self, group: Group, new: int, n: int, pending: list[dict[str, Any]]) -> None:
        """Switch the catalog to the written generation ``new`` of ``n`` frames with the files it counts, in
        one transaction, then delete the generation it replaces."""
        old = group.generation
        try:
            self.store.catalog.commit_group(group.id, n, new, pending)
        except CatalogError:
            if new != old:
                self.store.state.drop(group.id, new)  # the catalog still points at ``old``: free the space
            raise
        checkpoint("catalog-committed")
        group.generation, group.n = new, n
        if old and new != old:
            self.store.state.drop(group.id, old)
            checkpoint("old-dropped")
        pending.clear()

    def _dedupe(
        self, ready: list[tuple[_Todo, int, tuple[str, bytes]]], group: Group, pending: list[dict[str, Any]]
    ) -> list[int]:
        """Slots of the ready frames to count; a catalog row for each ready file goes to ``pending``."""
        known = self.store.catalog.ingested_hashes([digest for _, _, (digest, _) in ready])
        return [
            slot
            for todo, slot, (digest, evidence) in ready
            if self.counts(todo, digest, evidence, group, known, pending)
        ]

    def counts(
        self,
        todo: _Todo,
        digest: str,
        evidence: bytes | None,
        group: Group,
        known: dict[str, str],
        pending: list[dict[str, Any]],
    ) -> bool:
        """Whether a decoded file's frame counts: not if the same content was counted first under another
        path, in this run or before (``known``: hash -> path from the catalog). Its catalog row goes to
        ``pending``."""
        ident = {"hash": digest, "camera_id": group.camera_id, "group_id": group.id}
        first = self.counted.get(digest) or known.get(digest)
        if first is not None and first != todo.key:
            pending.append(_row(todo, DUPLICATE, f"same content as {first}", **ident))
            self.problem(todo.key, DUPLICATE, f"same content as {first}")
            return False
        self.counted[digest] = todo.key
        pending.append(_row(todo, INGESTED, None, standouts=evidence, **ident))
        self.report.count(INGESTED)
        return True

    def pair_d(self, group: Group, d: int | None) -> int | None:
        """The pair distance a new generation of ``group`` keeps for new frames' pairs at ``d``: None where
        the committed state has no pairs at that distance (written before pairs existed)."""
        return d if not group.n or self.store.state.pair_d(group.id, group.generation) == d else None


def _merged(state: StateStore, base: tuple[int, int, int], sums: stats.Sums, row0: int = 0) -> ChunkSource:
    """The chunks of the committed state ``base`` (group id, generation, frames) with the frames of ``sums``
    merged in, one region at a time. ``sums`` may hold only the rows from ``row0`` on."""
    group_id, generation, n = base
    read = state.reader(group_id, generation, n) if n else None

    def chunk(region: Region) -> tuple[np.ndarray, ...]:
        rows = slice(region[0].start - row0, region[0].stop - row0)
        part = stats.with_sums(read(region) if read is not None else None, sums, (rows, region[1]))
        return arrays_of(part, (slice(None),))

    return chunk


def _buffer_key(info: PhotoInfo | None) -> tuple[int, ...]:
    """What frames must share to share a decode ring and integer sums: (row, col, channel, bits, pair
    distance)."""
    assert info is not None
    return (*info.shape, info.bits, pair_distance(info.source, info.pattern))


@dataclass
class _Buffers:
    """The decode ring and integer sums of one frame size, with the batch size that fits the ring."""

    key: tuple[int, ...]  # shape, bits and pair distance (``_buffer_key``)
    ring: np.ndarray
    sums: stats.Sums
    k: int


def ring_size(frame_bytes: int, settings: Settings) -> tuple[int, int]:
    """(slots in the decode ring, frames folded at once) for frames of ``frame_bytes`` within the budget."""
    in_flight = settings.workers
    capacity = int(np.clip((settings.batch_mb << 20) // frame_bytes, 1, settings.max_batch_frames + in_flight))
    return capacity, int(np.clip(capacity - in_flight, 1, settings.max_batch_frames))


def ingest(
    inputs: Sequence[str], settings: Settings, *, on_event: OnEvent | None = None, wait: bool = True
) -> IngestReport:
    """Ingest files, directories and glob patterns into the store named by ``settings``.

    Files already in the catalog with the same size and modification time are passed over; new content is
    folded into its camera/source/size group and committed. Per-file problems are recorded in the
    catalog and reported through ``on_event``; they never stop the run.

    One ingest writes a store at a time: a second one waits for the first (``wait=False``: raises
    ``StoreBusy``). Ctrl-C or SIGTERM stop at the next safe point, commit what was folded, and raise
    ``Interrupted``; a SIGKILL loses at most the uncommitted batch, which the next run redoes.
    """
    started = time.monotonic()
    with session(inputs, settings, on_event, wait) as (run, todos):
        with ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="hpstore-decode") as pool:
            identified = run.identify(todos, pool)
            groups = run.grouped(identified)
            run.emit(Event("phase", "ingesting", total=len(identified)))
            # Groups of one frame size one after the other: they share the decode ring and the sums.
            for members in groups.values():
                key = _buffer_key(members[0].info)
                run.sized[key] = max(run.sized.get(key, 0), len(members))
            for group_id, members in sorted(groups.items(), key=lambda item: _buffer_key(item[1][0].info)):
                group = run.store.catalog.get_group(group_id)
                run.accumulate(group, members, pool)
                run.report.groups.append(group_id)
        date_defects(run)
    run.report.seconds = time.monotonic() - started
    return run.report


@contextmanager
def session(
    inputs: Sequence[str], settings: Settings, on_event: OnEvent | None, wait: bool
) -> Iterator[tuple[_Ingest, list[_Todo]]]:
    """The writer's side of an ingest, local or on a cluster: the store locked and opened, garbage of
    interrupted commits collected, signals turned into a stop, and the files to read selected."""
    emit = on_event or (lambda _event: None)
    Storage.prepare(settings)
    # The lock comes first: a second writer must not even open or migrate the catalog meanwhile.
    with (
        Storage.writer_lock(settings, wait=wait, on_wait=lambda t: emit(Event("notice", t))) as lock,
        Storage(settings) as store,
    ):
        run = _Ingest(store, settings, emit)
        store.collect_garbage()  # leftovers of commits a crash interrupted; we hold the writer lock
        with _stop_on_signals(run.stop):
            todos = run.select(inputs)
            if lock.interrupted_run is not None:
                emit(
                    Event(
                        "notice",
                        f"resuming an interrupted ingest: {run.report.unchanged} files were committed "
                        f"before it stopped, {len(todos)} to go",
                    )
                )
            yield run, todos


def date_defects(run: _Ingest) -> None:
    """Read earlier photos again to date the defects this run found (``hpstore.timeaxis.dating``)."""
    if not run.report.ingested or run.stop.is_set():
        return
    run.emit(Event("phase", "dating the defects found"))
    refined = dating.refine(
        run.store,
        run.report.groups,
        budget=max(dating.BUDGET, 2 * run.report.ingested),
        on_read=lambda: run.emit(Event("advance")),
    )
    run.report.reread = refined.photos
    if refined.unreadable:
        text = f"{refined.unreadable} earlier photos could not be read again to date defects (moved, "
        run.emit(Event("notice", text + "changed or gone): the dates rest on the other photos"))


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Turn the first Ctrl-C or SIGTERM into ``stop`` (honoured at the next safe point); a second Ctrl-C
    interrupts at once. Only the main thread can take signals; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum: int, _frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {sig: signal.signal(sig, first) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
