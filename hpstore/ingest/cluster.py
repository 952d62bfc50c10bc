"""Ingest on a Dask cluster: ``hpstore ingest --dask tcp://scheduler:8786 PATH...``.

The client (this process) does what needs the catalog and the writer lock: it finds the files, passes over
those already ingested, groups the identified photos, decides which copies are duplicates, and commits. The
workers do the heavy part (:mod:`hpstore.ingest.tasks`) on files every worker can read:

1. **identify**: read each file's headers, a chunk of files per task;
2. **fold**: read, hash, decode and scan each photo of a chunk of one group's files, and add its frame to
   exact integer sums (``stats.Sums``): a part per chunk. Each worker takes a run of consecutive chunks
   (:class:`_Schedule`), so a group's chunks go to as few workers as keep every worker busy;
3. **merge**: two parts of one group on one worker are added there (integer sums merge exactly) as soon as
   both are ready; the parts of different workers merge when the group has no chunk left. A tree that never
   gathers the parts in one place, and moves one part per worker a group went to, not one per chunk. At
   most two chunks per worker thread are in flight, so memory stays bounded whatever the number of photos;
4. **write**: on a store on object storage, the workers merge the group's final sums into the committed
   state, each for its band of rows, and write those chunks of the new generation. The client then records
   the generation's frame count and commits the catalog in one transaction, as a local ingest does (a local
   store is written by the client, as in a local ingest).

A file counted twice (the same content under two paths in different chunks, or content an earlier run
counted) is taken out again by subtraction: the sums are integers, so that is exact. Which copy counts
follows the local ingest's rule (the first in the order files were found), so the catalog and the state
equal those of a local ingest of the same files. Dask re-runs the chunks of a worker that dies (and the
merges it held); a client that dies commits nothing of the group in flight, and the next run does it again.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hpstore import stats
from hpstore.detect.cfa import pair_distance
from hpstore.errors import BadArgument, DecodeError, HpstoreError, Interrupted, StoreError
from hpstore.io import PhotoInfo
from hpstore.settings import Settings
from hpstore.store.catalog import FAILED, Group
from hpstore.testing.faults import checkpoint

from .pipeline import RESUME, Event, IngestReport, OnEvent, _buffer_key, _Ingest, _row, _Todo
from .tasks import Seen, Spec, files_of, fold, identify, merge, rows_of, take_out, version, warm, write_band

if TYPE_CHECKING:
    from distributed import Client, Future

_PROBE_CHUNK = 64  # files identified per task
SLICE = 20_000  # files identified, grouped and committed at a time (more on a large cluster)


# ---- the client ---------------------------------------------------------------------------------------


def connect(address: str, timeout: float = 15.0) -> Client:
    """A client of the scheduler at ``address``, after checking that its workers run this hpstore."""
    try:
        from distributed import Client
    except ImportError as err:
        raise StoreError("ingest --dask needs dask.distributed: pip install 'hpstore[cluster]'") from err
    from hpstore import __version__

    try:
        client = Client(address, timeout=timeout)
    except ValueError as err:
        raise BadArgument(f"{address!r} is not a Dask scheduler's address (tcp://host:8786): {err}") from err
    except (OSError, TimeoutError) as err:
        raise StoreError(f"cannot reach the Dask scheduler at {address}: {err}") from err
    try:
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=timeout)
        theirs = set(client.run(warm, wait=True).values())
        theirs.add(client.run_on_scheduler(version))  # the scheduler unpickles the tasks: it needs hpstore too
    except (OSError, TimeoutError) as err:
        client.close()
        raise StoreError(f"the Dask cluster at {address} has no worker that answers: {err}") from err
    except Exception as err:  # a worker without hpstore cannot unpickle the call
        client.close()
        raise StoreError(
            f"the Dask cluster at {address} cannot run hpstore ({err}): install hpstore {__version__} on its "
            "scheduler and workers"
        ) from err
    if theirs != {__version__}:
        client.close()
        raise StoreError(
            f"the Dask workers run hpstore {sorted(theirs)}, this is {__version__}: install one version"
        )
    return client


@dataclass
class _Batch:
    """Files of one group whose frames one set of integer sums holds, cut into chunks (``pieces``)."""

    group: Group
    todos: list[_Todo]
    spec: Spec
    pieces: list[list[tuple[int, str, PhotoInfo]]]
    unfolded: int  # chunks not folded yet
    live: int = 0  # its tasks running or waiting
    waiting: dict[str, Future] = field(default_factory=dict)  # a finished part per worker that holds one
    part: Future | None = None  # all its chunks merged


class _Schedule:
    """Runs the batches' chunks on the workers, each worker taking a run of consecutive chunks, so that a
    group's parts lie on as few workers as keep every worker busy. Parts merge on the worker that holds
    them; only when a batch has no chunk left do its parts on different workers merge, so the network
    carries one part per worker the group went to, not one per chunk (``bench/scale.py``). A worker that
    runs out of chunks takes the last ones of the longest queue. Batches commit in order as they complete.
    """

    def __init__(self, owner: _Cluster, batches: list[_Batch]) -> None:
        from distributed import as_completed

        self.owner, self.batches = owner, batches
        self.client = owner.client
        self.cap = {w: 2 * n for w, n in self.threads(self.client).items()}
        chunks = [(b, k) for b, batch in enumerate(batches) for k in range(len(batch.pieces))]
        share = -(-len(chunks) // max(1, len(self.cap)))
        self.queues = {w: deque(chunks[n * share : (n + 1) * share]) for n, w in enumerate(self.cap)}
        self.live: Counter[str] = Counter()
        self.tasks: dict[Any, tuple[int, int, str]] = {}  # key -> (batch, files, worker it was meant for)
        self.done = as_completed()
        self.committed = 0

    @staticmethod
    def threads(client: Client) -> dict[str, int]:
        """Worker address -> its threads."""
        workers = client.scheduler_info()["workers"]
        return {w: max(1, int(info.get("nthreads", 1))) for w, info in workers.items()}

    def run(self) -> None:
        self.refill()
        for future in self.done:
            self.owner._check_stop([future])
            if future.status == "error":
                future.result()  # raises the worker's error here
            b, files, worker = self.tasks.pop(future.key)
            batch = self.batches[b]
            batch.live -= 1
            if files:
                self.live[worker] -= 1
                batch.unfolded -= 1
                for _ in range(files):
                    self.owner.run.emit(Event("advance"))
                    checkpoint("decoded")
            self.place(b, batch, future)
            self.refill()
            while self.committed < len(self.batches) and self.batches[self.committed].part is not None:
                self.owner.finish(self.batches[self.committed])
                self.committed += 1
        assert self.committed == len(self.batches), "every batch was committed"

    def place(self, b: int, batch: _Batch, future: Future) -> None:
        """Merge a finished part with one on the same worker, or keep it there; a batch without chunks
        left merges across workers, and is complete with one part."""
        where = self.owner.where(future)
        if where in batch.waiting:
            self.submit(b, merge, batch.waiting.pop(where), future, worker=where)
        else:
            batch.waiting[where] = future
        if batch.unfolded == 0 and batch.live == 0:
            if len(batch.waiting) > 1:
                (_, one), (to, other) = batch.waiting.popitem(), batch.waiting.popitem()
                self.submit(b, merge, one, other, worker=to)
            else:
                batch.part = batch.waiting.popitem()[1]

    def refill(self) -> None:
        for worker, cap in self.cap.items():
            queue = self.queues[worker]
            while self.live[worker] < cap:
                if not queue:
                    longest = max(self.queues.values(), key=len)
                    if len(longest) < 2:
                        break
                    queue.append(longest.pop())  # take the last chunk of the longest queue
                b, k = queue.popleft()
                batch = self.batches[b]
                self.submit(b, fold, batch.pieces[k], batch.spec, worker=worker, files=len(batch.pieces[k]))
                self.live[worker] += 1

    def submit(self, b: int, task: Any, *args: Any, worker: str, files: int = 0) -> None:
        # A loose restriction: where the worker is gone (a restarted worker has another address), any other.
        where = {"workers": [worker], "allow_other_workers": True} if worker else {}
        future = self.client.submit(task, *args, pure=False, retries=2 if files else None, **where)
        self.tasks[future.key] = (b, files, worker)
        self.batches[b].live += 1
        self.done.add(future)


class _Cluster:
    """One ingest through a Dask client; the catalog, lock and commits are ``run``'s, as in a local ingest."""

    def __init__(self, run: _Ingest, client: Client, chunk: int) -> None:
        self.run, self.client, self.chunk = run, client, chunk
        self.slots = 2 * sum(_Schedule.threads(client).values())  # tasks in flight: two per worker thread

    def identify(self, todos: list[_Todo]) -> list[_Todo]:
        run = self.run
        run.emit(Event("phase", "identifying", total=len(todos)))
        pieces = [todos[at : at + _PROBE_CHUNK] for at in range(0, len(todos), _PROBE_CHUNK)]
        futures = [self.client.submit(identify, [str(t.path) for t in p], pure=False, retries=2) for p in pieces]
        ok: list[_Todo] = []
        rows: list[dict[str, Any]] = []
        for piece, future in zip(pieces, futures, strict=True):
            self._check_stop(futures)
            for todo, found in zip(piece, future.result(), strict=True):
                if isinstance(found, tuple):
                    status, reason = found
                    rows.append(_row(todo, status, reason))
                    run.problem(todo.key, status, reason)
                else:
                    try:
                        run.check_budget(found)
                        todo.info = found
                        ok.append(todo)
                    except DecodeError as err:
                        todo.info = found
                        rows.append(_row(todo, FAILED, str(err)))
                        run.problem(todo.key, FAILED, str(err))
                run.emit(Event("advance"))
        run.store.catalog.record_files(rows)
        return ok

    def ingest(self, groups: dict[int, list[_Todo]]) -> None:
        """Fold, merge and commit every group (in batches the integer sums hold exactly), in the local
        ingest's order of groups."""
        batches: list[_Batch] = []
        for group_id, members in sorted(groups.items(), key=lambda item: _buffer_key(item[1][0].info)):
            group = self.run.store.catalog.get_group(group_id)
            info = members[0].info
            assert info is not None
            limit = stats.sums_for((1, 1, 1), info.dtype).limit  # most frames exact integer sums hold
            d = pair_distance(info.source, info.pattern)
            for at in range(0, len(members), limit):
                todos = members[at : at + limit]
                spec = Spec(info.shape, np.dtype(info.dtype).str, d, len(todos))
                work = [(i, str(t.path), t.info) for i, t in enumerate(todos) if t.info is not None]
                pieces = [work[k : k + self.chunk] for k in range(0, len(work), self.chunk)]
                batches.append(_Batch(group, todos, spec, pieces, len(pieces)))
            if group_id not in self.run.report.groups:  # a group may come again in a later slice
                self.run.report.groups.append(group_id)
        _Schedule(self, batches).run()

    def finish(self, batch: _Batch) -> None:
        """Decide the batch's duplicates, take their frames out, and commit it."""
        assert batch.part is not None
        seen = sorted(self.client.submit(files_of, batch.part, pure=False).result(), key=lambda s: s.index)
        part, pending, frames = self._settle(batch.group, batch.todos, seen, batch.part, batch.spec)
        batch.part = None
        self._commit(batch.group, part, frames, batch.spec, pending)

    def where(self, future: Future) -> str:
        """The worker holding a finished task's result ("" if the scheduler does not say)."""
        holders = self.client.who_has([future]).get(future.key) or ("",)
        return str(holders[0])

    def _settle(
        self, group: Group, todos: list[_Todo], seen: list[Seen], part: Future, spec: Spec
    ) -> tuple[Future, list[dict[str, Any]], int]:
        """The catalog rows of a batch's files, by the local ingest's rules (the first copy of content
        counts), and its part with the frames of later copies taken out; and the frames it holds."""
        run = self.run
        known = run.store.catalog.ingested_hashes([s.digest for s in seen if s.digest])
        pending: list[dict[str, Any]] = []
        out: list[tuple[int, str, PhotoInfo]] = []
        digests: list[str] = []
        frames = 0
        for s in seen:
            todo = todos[s.index]
            if s.digest is None:
                pending.append(_row(todo, FAILED, s.reason))
                run.problem(todo.key, FAILED, s.reason or "cannot read")
                continue
            if run.counts(todo, s.digest, s.evidence, group, known, pending):
                frames += 1
            elif s.folded:  # a later copy the worker added: its frame comes out again
                assert todo.info is not None
                out.append((s.index, str(todo.path), todo.info))
                digests.append(s.digest)
        if out:
            part = self.client.submit(take_out, part, out, spec, digests, pure=False)
        return part, pending, frames

    def _commit(self, group: Group, part: Future, frames: int, spec: Spec, pending: list[dict[str, Any]]) -> None:
        run = self.run
        if not run.settings.url or not frames:
            sums = part.result().sums  # a local store is written from here, as a local ingest writes it
            assert sums.n == frames, f"the cluster's sums hold {sums.n} frames, the catalog counts {frames}"
            run.commit(group, sums, pending)
            return
        state = run.store.state
        old, new, n = group.generation, group.generation + 1, group.n + frames
        pair_d = run.pair_d(group, spec.d)
        state.begin(group.id, new, spec.shape, n, pair_d)
        regions = state.regions(group.id, new)
        base = (group.id, old, group.n)
        writes, cuts = [], []  # the cuts are held until written: dask forgets a released input
        for rows, band in _bands(regions, self.slots):
            cuts.append(self.client.submit(rows_of, part, rows, pure=False))  # runs where the part is
            writes.append(
                self.client.submit(
                    write_band, run.settings, base, new, cuts[-1], rows.start, band, pure=False, retries=2
                )
            )
        try:
            written = sum(future.result() for future in writes)
        except BaseException:
            state.drop(group.id, new)
            raise
        assert written == len(regions)
        state.finish(group.id, new, n, pair_d)
        checkpoint("state-written")
        run.commit_generation(group, new, n, pending)

    def _check_stop(self, futures: Sequence[Future]) -> None:
        if self.run.stop.is_set():
            self.client.cancel(list(futures))
            raise Interrupted(f"interrupted; {self.run.report.ingested} files committed by this run. {RESUME}")


def ingest_on(
    client: Client,
    inputs: Sequence[str],
    settings: Settings,
    *,
    on_event: OnEvent | None = None,
    wait: bool = True,
    chunk: int = 64,
) -> IngestReport:
    """Ingest ``inputs`` as :func:`hpstore.ingest.pipeline.ingest` does, with the files read, decoded and
    folded by ``client``'s Dask workers in chunks of ``chunk`` files. The files must be readable at the
    same paths on every worker, and a store on object storage reachable from them (a local store is
    written by this process)."""
    from hpstore.ingest.pipeline import date_defects, session

    started = time.monotonic()
    with session(inputs, settings, on_event, wait) as (run, todos):
        cluster = _Cluster(run, client, max(1, chunk))
        # An archive goes through in slices: what the client holds per file (headers, rows) stays bounded.
        # Each slice commits its groups, so a copy of content in an earlier slice is found in the catalog.
        # Slices of at least 8 chunks per worker thread: a group's chunks still go to one or two workers.
        size = max(SLICE, 8 * cluster.chunk * sum(_Schedule.threads(client).values()))
        for at in range(0, len(todos), size):
            identified = cluster.identify(todos[at : at + size])
            groups = run.grouped(identified)
            run.emit(Event("phase", "ingesting", total=len(identified)))
            cluster.ingest(groups)
            run.counted.clear()
        date_defects(run)
    run.report.seconds = time.monotonic() - started
    return run.report


def ingest(
    inputs: Sequence[str],
    settings: Settings,
    address: str,
    *,
    on_event: OnEvent | None = None,
    wait: bool = True,
    chunk: int = 64,
) -> IngestReport:
    """:func:`ingest_on` through the Dask scheduler at ``address`` (``tcp://host:8786``)."""
    client = connect(address)
    try:
        return ingest_on(client, inputs, settings, on_event=on_event, wait=wait, chunk=chunk)
    except HpstoreError:
        raise
    finally:
        client.close()


def _bands(regions: list[Any], most: int) -> list[tuple[slice, list[Any]]]:
    """The chunk regions cut into at most ``most`` bands of whole chunk rows: (rows, regions) each."""
    starts = sorted({r[0].start for r in regions})
    per = -(-len(starts) // max(1, most))
    out = []
    for at in range(0, len(starts), per):
        mine = set(starts[at : at + per])
        band = [r for r in regions if r[0].start in mine]
        out.append((slice(min(mine), max(r[0].stop for r in band)), band))
    return out
