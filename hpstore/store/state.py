"""Zarr v3 storage of group states, one immutable generation per commit.

Layout under ``<store>/state.zarr``::

    g<group id>/v<generation>/mean     float64 (row, col, channel)
    g<group id>/v<generation>/m2       float64 (row, col, channel)
    g<group id>/v<generation>/sign_x   int16 or int32 (row, col, channel)  sign sums against the neighbours
    g<group id>/v<generation>/sign_y   int16 or int32 (row, col, channel)  (``stats.Pairs``), distance in attr
                                                                            pair_d; int16 up to 32,767 frames

Generations written before pairs existed have mean and m2 only; their states read with ``pairs`` None.

A commit writes a new generation whole (every chunk, from one writer: zarr loses data on concurrent or
unaligned partial chunk writes), then the catalog switches the group to it in one transaction, then the old
generation is deleted. A generation the catalog does not point at is garbage from an interrupted commit.
``write_from`` computes the chunks one region at a time (ingest merges the old generation's region with the
new frames' sums there), so a commit never holds a whole state in memory.
"""

from __future__ import annotations

import abc
import json
import os
import re
import shutil
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, cast

import numpy as np
import zarr
import zarr.storage
from zarr.abc.store import Store as ZarrStore
from zarr.codecs import BloscCodec

from hpstore.errors import StateError, StoreError
from hpstore.stats import Pairs, State
from hpstore.testing.faults import checkpoint


def arrays_of(state: State, region: Region | tuple[slice, ...]) -> tuple[np.ndarray, ...]:
    """The arrays a generation stores of ``state``, over ``region``: mean, m2 and the pairs if any."""
    pairs = (state.pairs.x[region], state.pairs.y[region]) if state.pairs is not None else ()
    return (state.mean[region], state.m2[region], *pairs)


CHUNK = 512  # rows and cols per chunk; 512 x 512 x 3 float64 = 6 MiB uncompressed, written in parallel
# Bit shuffle: the float64 mean and M2 compress better and faster with it than with byte shuffle (measured
# on 24 MP JPEG and RAW states: 10 % faster writes, 2-14 % smaller). Older generations keep their codec.
_COMPRESSOR = BloscCodec(cname="lz4", clevel=1, shuffle="bitshuffle")
FIELDS = ("mean", "m2")
PAIR_FIELDS = ("sign_x", "sign_y")
_DTYPES = {"mean": "float64", "m2": "float64", "sign_x": "int32", "sign_y": "int32"}
_SHORT = 32_767  # a generation of at most this many frames stores its sign sums as int16: half the bytes


def _dtype(name: str, n: int) -> str:
    return "int16" if name in PAIR_FIELDS and n <= _SHORT else _DTYPES[name]


_WRITERS = 4  # threads compressing and writing chunks
_ALL = slice(None)

Region = tuple[slice, slice]  # (rows, cols) of one chunk
ChunkSource = Callable[[Region], tuple[np.ndarray, ...]]  # region -> (mean, m2[, pair_x, pair_y]) there


def _chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (min(CHUNK, shape[0]), min(CHUNK, shape[1]), *shape[2:])


class StateStore(abc.ABC):
    """The group states of one store, one immutable generation per commit, in a Zarr v3 hierarchy.

    What a backend provides is small: the zarr store the hierarchy lives in, which generations exist, how to
    delete one, and how to make a written chunk and a whole generation durable. Everything else (chunking,
    the commit's chunk-by-chunk writes, reading windows) is shared. ``LocalStateStore`` keeps the state in
    a folder (fsync'd); ``MemoryStateStore`` in memory (tests, notebooks); object storage comes next.
    """

    @abc.abstractmethod
    def zarr_store(self) -> ZarrStore:
        """The zarr store holding the hierarchy."""

    @abc.abstractmethod
    def group_ids(self) -> set[int]:
        """Groups that have something in the state, committed or not (garbage included)."""

    @abc.abstractmethod
    def generations(self, group_id: int) -> list[int]:
        """The generations a group has in the state, committed or not, in order."""

    @abc.abstractmethod
    def drop(self, group_id: int, generation: int) -> None:
        """Delete one generation, whole or half-written; nothing happens if it does not exist."""

    @abc.abstractmethod
    def nbytes(self) -> int:
        """Bytes the stored state takes."""

    def chunk_written(self, name: str, field: str, key: str) -> None:  # noqa: B027 - optional hook
        """Called after each chunk ``key`` of ``name/field`` is written: make it durable, where a write
        alone does not (a file must be fsync'd; an object store's PUT is durable when it returns)."""

    def generation_written(self, name: str) -> None:  # noqa: B027 - optional hook
        """Called when every array and attribute of generation ``name`` is written, before the catalog may
        point at it: make its metadata durable."""

    @staticmethod
    def name(group_id: int, generation: int) -> str:
        """The path of one generation in the hierarchy."""
        return f"g{group_id}/v{generation}"

    def _open(self, path: str, mode: str) -> zarr.Group:
        try:
            return zarr.open_group(self.zarr_store(), path=path, mode=mode)  # type: ignore[arg-type]
        except (OSError, ValueError) as err:
            raise StoreError(f"cannot open state {self}: {brief(err)}") from err

    def write(self, group_id: int, generation: int, state: State) -> None:
        """Write ``state`` as a new generation (all chunks; overwrites leftovers of the same generation)."""
        pair_d = state.pairs.d if state.pairs is not None else None
        self.write_from(group_id, generation, state.shape, state.n, lambda r: arrays_of(state, r), pair_d)

    def write_from(
        self,
        group_id: int,
        generation: int,
        shape: tuple[int, ...],
        n: int,
        source: ChunkSource,
        pair_d: int | None = None,
    ) -> None:
        """Write a new generation of ``n`` frames whose chunks ``source`` computes: ``source(region)`` gives
        the (mean, m2) arrays of one chunk's (rows, cols) region, and its pair arrays when ``pair_d`` is given.
        A few threads compute and write the chunks, so a state need never be whole in memory."""
        self.begin(group_id, generation, shape, n, pair_d)
        self.write_regions(group_id, generation, source)
        self.finish(group_id, generation, n, pair_d)

    def begin(self, group_id: int, generation: int, shape: tuple[int, ...], n: int, pair_d: int | None) -> None:
        """Create the arrays of a new generation (their metadata), after deleting leftovers of an
        interrupted commit of the same generation. Its chunks come next (:meth:`write_regions`, from one
        process or split between several), then :meth:`finish`."""
        fields = FIELDS + PAIR_FIELDS if pair_d else FIELDS
        with self._failing(group_id, generation):
            self.drop(group_id, generation)
            node = self._open("", "a").require_group(self.name(group_id, generation))
            for field in fields:
                node.create_array(
                    field,
                    shape=shape,
                    dtype=_dtype(field, n),
                    chunks=_chunks(shape),
                    compressors=_COMPRESSOR,
                    overwrite=True,
                )

    def regions(self, group_id: int, generation: int) -> list[Region]:
        """The chunk regions of a generation begun with :meth:`begin`."""
        return _regions(self._arrays(group_id, generation)[0])

    def write_regions(
        self, group_id: int, generation: int, source: ChunkSource, regions: list[Region] | None = None
    ) -> None:
        """Write the chunks of ``regions`` (default: all) of a begun generation from ``source``. Callers in
        several processes may each write their own regions: every chunk is written whole, by one of them."""
        name = self.name(group_id, generation)
        with self._failing(group_id, generation):
            arrays = self._arrays(group_id, generation)
            _write_chunks(arrays, lambda field, key: self.chunk_written(name, field, key), source, regions)

    def finish(self, group_id: int, generation: int, n: int, pair_d: int | None) -> None:
        """Record the generation's frame count, and make it durable: the catalog may point at it now."""
        name = self.name(group_id, generation)
        with self._failing(group_id, generation):
            self._open(name, "r+").attrs.update({"n": n, "pair_d": pair_d} if pair_d else {"n": n})
            self.generation_written(name)

    def _arrays(self, group_id: int, generation: int) -> list[zarr.Array]:
        node = self._open(self.name(group_id, generation), "r+")
        # write every chunk (the setting is not stored with the array): no per-chunk all-zero scan
        return [
            cast(zarr.Array, node[f]).with_config({"write_empty_chunks": True})
            for f in (*FIELDS, *PAIR_FIELDS)
            if f in node
        ]

    @contextmanager
    def _failing(self, group_id: int, generation: int) -> Iterator[None]:
        """A failed write deletes the half-written generation (freeing its space) and says why."""
        try:
            yield
        except OSError as err:
            self.drop(group_id, generation)
            raise StoreError(f"cannot write state of group {group_id}: {err.strerror or brief(err)}") from err
        except StateError:
            self.drop(group_id, generation)  # ``source`` could not read the generation it merges from
            raise

    def _node(self, group_id: int, generation: int) -> zarr.Group:
        name = self.name(group_id, generation)
        try:
            return zarr.open_group(self.zarr_store(), path=name, mode="r")
        except (OSError, KeyError, ValueError, FileNotFoundError) as err:
            raise StateError(f"state {name} is missing or unreadable: {brief(err)}") from err

    def reader(self, group_id: int, generation: int, n: int, *, light: bool = False) -> Callable[[Region], State]:
        """Windows of a committed generation, ``read(region)``, with its arrays opened once.

        ``light`` states are for reading only: their pairs keep the stored width (int16 in generations of
        up to 32,767 frames) and their m2 is a :class:`StoredPlane`, read where indexed."""
        name = self.name(group_id, generation)
        node = self._node(group_id, generation)
        try:
            stored_n, pair_d = node.attrs.get("n"), node.attrs.get("pair_d")
            fields = FIELDS + PAIR_FIELDS if pair_d else FIELDS
            arrays = [cast(zarr.Array, node[f]) for f in fields]
        except (OSError, KeyError, ValueError) as err:
            raise StateError(f"state {name} is missing or unreadable: {brief(err)}") from err
        if stored_n != n:
            raise StateError(f"state {name} holds {stored_n} frames but the catalog says {n}")

        def read(region: Region) -> State:
            try:
                if light and region == (_ALL, _ALL):
                    mean, *stored = (np.asarray(array[region]) for array in (arrays[0], *arrays[2:]))
                    m2 = cast(np.ndarray, StoredPlane(arrays[1]))  # indexed like an array, read when indexed
                else:
                    mean, m2, *stored = (np.asarray(array[region]) for array in arrays)
                if not light:
                    stored = [a.astype(np.int32, copy=False) for a in stored]  # int16 on disk in small generations
            except (OSError, KeyError, ValueError) as err:
                raise StateError(f"state {name} is unreadable: {brief(err)}") from err
            return State(n, mean, m2, Pairs(pair_d, *stored) if stored and isinstance(pair_d, int) else None)

        return read

    def pair_d(self, group_id: int, generation: int) -> int | None:
        """The pair distance a committed generation keeps, or None (written before pairs existed)."""
        value = self._node(group_id, generation).attrs.get("pair_d")
        return value if isinstance(value, int) and value > 0 else None

    def read(
        self,
        group_id: int,
        generation: int,
        n: int,
        rows: slice = _ALL,
        cols: slice = _ALL,
        *,
        light: bool = False,
    ) -> State:
        """Read a committed generation, or a window of it (only the chunks it touches are read).

        ``n`` comes from the catalog and is checked against the count stored with the arrays; ``light``: see
        :meth:`reader`.
        """
        return self.reader(group_id, generation, n, light=light)((rows, cols))


class StoredPlane:
    """A stored ``(row, col, channel)`` array read where it is indexed (``plane[key]`` with integers and
    slices), a chunk at a time; the last ``keep`` chunks read stay decoded. Ranking reads a state's m2 so:
    only at its few candidates, instead of decoding and holding it whole."""

    def __init__(self, array: zarr.Array, keep: int = 96) -> None:
        self.array, self.keep = array, keep
        self.shape: tuple[int, ...] = tuple(array.shape)
        self.dtype = array.dtype
        self.ndim = len(self.shape)
        self._chunks: OrderedDict[tuple[int, int], np.ndarray] = OrderedDict()

    def _chunk(self, cy: int, cx: int) -> np.ndarray:
        if (cy, cx) in self._chunks:
            self._chunks.move_to_end((cy, cx))
            return self._chunks[(cy, cx)]
        rows, cols = self.array.chunks[:2]
        block = np.asarray(self.array[cy * rows : (cy + 1) * rows, cx * cols : (cx + 1) * cols])
        self._chunks[(cy, cx)] = block
        if len(self._chunks) > self.keep:
            self._chunks.popitem(last=False)
        return block

    def __getitem__(self, key: object) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        spans: list[tuple[int, int]] = []
        rest: list[slice | int] = []
        for axis, k in enumerate(key[:2]):
            size = self.shape[axis]
            if isinstance(k, slice):
                start, stop, step = k.indices(size)
                if step != 1:
                    raise IndexError("StoredPlane reads steps of 1 only")
                spans.append((start, max(stop, start)))
                rest.append(slice(None))
            else:
                i = int(k) + size if int(k) < 0 else int(k)
                if not 0 <= i < size:
                    raise IndexError(f"index {k} is out of bounds for axis {axis} with size {size}")
                spans.append((i, i + 1))
                rest.append(0)
        while len(spans) < 2:
            spans.append((0, self.shape[len(spans)]))
            rest.append(slice(None))
        (y0, y1), (x0, x1) = spans
        rows, cols = self.array.chunks[:2]
        block = np.empty((y1 - y0, x1 - x0, *self.shape[2:]), self.dtype)
        for cy in range(y0 // rows, (y1 - 1) // rows + 1 if y1 > y0 else y0 // rows):
            for cx in range(x0 // cols, (x1 - 1) // cols + 1 if x1 > x0 else x0 // cols):
                chunk = self._chunk(cy, cx)
                a0, a1 = max(y0, cy * rows), min(y1, (cy + 1) * rows)
                b0, b1 = max(x0, cx * cols), min(x1, (cx + 1) * cols)
                block[a0 - y0 : a1 - y0, b0 - x0 : b1 - x0] = chunk[
                    a0 - cy * rows : a1 - cy * rows, b0 - cx * cols : b1 - cx * cols
                ]
        return block[(*rest, *key[2:])]


class LocalStateStore(StateStore):
    """The state in a folder (``<store>/state.zarr``): chunks fsync'd as written, the generation's files
    and folders before the catalog switches to it; listing and deleting by folder, so that the leftovers
    of a crash are found and removed even where zarr's metadata was never written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._store = zarr.storage.LocalStore(path)

    def __repr__(self) -> str:
        return f"LocalStateStore({str(self.path)!r})"

    def zarr_store(self) -> ZarrStore:
        return self._store

    def generations(self, group_id: int) -> list[int]:
        folder = self.path / f"g{group_id}"
        if not folder.is_dir():
            return []
        return sorted(int(p.name[1:]) for p in folder.iterdir() if p.name[:1] == "v" and p.name[1:].isdigit())

    def group_ids(self) -> set[int]:
        if not self.path.is_dir():
            return set()
        return {int(p.name[1:]) for p in self.path.iterdir() if p.name[:1] == "g" and p.name[1:].isdigit()}

    def drop(self, group_id: int, generation: int) -> None:
        shutil.rmtree(self.path / self.name(group_id, generation), ignore_errors=True)

    def nbytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def chunk_written(self, name: str, field: str, key: str) -> None:
        _fsync(str(self.path / name / field / key))

    def generation_written(self, name: str) -> None:
        # Also the metadata files and folders; the chunks, synced as written, cost a no-op fsync each.
        _fsync_tree(self.path / name)


class ObjectStateStore(StateStore):
    """The state in an object store (S3 and S3-compatible servers, Google Cloud Storage, Azure; through
    obstore), or in any zarr store.

    Nothing is renamed or appended: a generation is written whole under a new prefix, and the catalog's
    transaction that points at it is the commit. A PUT is durable when it returns, so there is nothing to
    flush. Listing and deleting go by key prefix, so the leftovers of an interrupted commit are found even
    where zarr's metadata was never written.
    """

    def __init__(self, store: ZarrStore, where: str) -> None:
        self._store, self.where = store, where

    @classmethod
    def from_url(cls, url: str) -> ObjectStateStore:
        """The state at ``url`` (``s3://bucket/prefix``, ``gs://...``, ``az://...``). Credentials, region and
        endpoint come from the standard environment variables (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``,
        ``AWS_ALLOW_HTTP`` for a plain-HTTP test server, ...)."""
        try:
            from obstore.store import from_url
            from zarr.storage import ObjectStore
        except ImportError as err:
            raise StoreError(f"a state in {url} needs obstore: pip install 'hpstore[cluster]'") from err
        try:
            return cls(ObjectStore(from_url(url)), url)
        except (ValueError, OSError, RuntimeError) as err:
            raise StoreError(f"cannot open state {url}: {brief(err)}") from err

    def __repr__(self) -> str:
        return f"ObjectStateStore({self.where!r})"

    def zarr_store(self) -> ZarrStore:
        return self._store

    def _children(self, prefix: str) -> list[str]:
        from zarr.core.sync import sync

        async def names() -> list[str]:
            return [name async for name in self._store.list_dir(prefix)]

        try:
            return sync(names())
        except OSError:
            return []

    def group_ids(self) -> set[int]:
        return {int(k[1:]) for k in self._children("") if k[:1] == "g" and k[1:].isdigit()}

    def generations(self, group_id: int) -> list[int]:
        return sorted(int(k[1:]) for k in self._children(f"g{group_id}") if k[:1] == "v" and k[1:].isdigit())

    def drop(self, group_id: int, generation: int) -> None:
        from zarr.core.sync import sync

        with suppress(OSError):  # nothing there
            sync(self._store.delete_dir(self.name(group_id, generation)))

    def nbytes(self) -> int:
        from zarr.core.sync import sync

        async def size() -> int:
            return sum([await self._store.getsize(key) async for key in self._store.list()])

        try:
            return sync(size())
        except OSError:
            return 0

    def marker(self, key: str) -> ObjectMarker:
        """A run marker kept as the object ``key`` next to the state (see ``hpstore.store.lock``)."""
        return ObjectMarker(self._store, key)


class ObjectMarker:
    """A small JSON record as one object of a zarr store (a store on object storage has no folder)."""

    def __init__(self, store: ZarrStore, key: str) -> None:
        self.store, self.key = store, key

    def read(self) -> dict[str, Any] | None:
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        try:
            found = sync(self.store.get(self.key, prototype=default_buffer_prototype()))
        except OSError as err:
            raise StoreError(f"cannot read {self.key} in the state: {brief(err)}") from err
        if found is None:
            return None
        try:
            record = json.loads(found.to_bytes())
        except ValueError:
            return {}
        return record if isinstance(record, dict) else {}

    def write(self, record: dict[str, Any]) -> None:
        from zarr.core.buffer import default_buffer_prototype
        from zarr.core.sync import sync

        data = default_buffer_prototype().buffer.from_bytes(json.dumps(record).encode())
        try:
            sync(self.store.set(self.key, data))
        except OSError as err:
            raise StoreError(f"cannot write {self.key} in the state: {brief(err)}") from err

    def clear(self) -> None:
        from zarr.core.sync import sync

        with suppress(OSError, FileNotFoundError):
            sync(self.store.delete(self.key))


class MemoryStateStore(ObjectStateStore):
    """The state in memory, gone with the process: for tests and notebooks. It is the object-store code
    over zarr's MemoryStore, so the tests of either check the other."""

    def __init__(self) -> None:
        super().__init__(zarr.storage.MemoryStore(), "memory")

    def __repr__(self) -> str:
        return "MemoryStateStore()"


def brief(err: BaseException) -> str:
    """An error of the storage layer in one line. Object stores answer with pages of XML and a retry log
    (obstore's errors run to 30 lines): their ``<Code>`` and ``<Message>`` say it, else the first line."""
    text = str(err)
    code = re.search(r"<Code>([^<]*)</Code>", text)
    message = re.search(r"<Message>([^<]*)</Message>", text)
    if code and message:
        return f"{code.group(1)}: {message.group(1)}"
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return first[:300]


def _regions(array: zarr.Array) -> list[Region]:
    rows, cols = array.chunks[:2]
    height, width = array.shape[:2]
    return [
        (slice(r, min(r + rows, height)), slice(c, min(c + cols, width)))
        for r in range(0, height, rows)
        for c in range(0, width, cols)
    ]


def _write_chunks(
    arrays: list[zarr.Array],
    written: Callable[[str, str], None],
    source: ChunkSource,
    regions: list[Region] | None = None,
) -> None:
    """Write the chunks of ``regions`` (default: all) of ``arrays`` from ``source`` with a few threads,
    calling ``written(field, key)`` after each chunk (to make it durable); return when every write has ended.

    One ``array[...] = data`` would fan out into concurrent chunk writes on zarr's event loop; when one
    fails (a full disk), the others carry on after the exception and would recreate files in a generation
    being deleted. Here each call writes one whole chunk of each array, and all calls are waited for: the
    first half of the chunks, then the second. Each thread syncs its chunk files as soon as they are
    written: the page cache would otherwise hold them all until the commit's final fsync (a few hundred
    MB stay below the kernel's writeback threshold), with the disk idle while the chunks are computed.
    Measured on a 24 MP RGB state: commits 25 % shorter.
    """
    rows, cols = arrays[0].chunks[:2]
    regions = _regions(arrays[0]) if regions is None else regions

    def write(region: Region) -> None:
        at = (region[0].start // rows, region[1].start // cols, *[0] * (len(arrays[0].shape) - 2))
        for array, data in zip(arrays, source(region), strict=True):
            array[region] = data
            written(array.basename, array.metadata.encode_chunk_key(at))

    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        half = (len(regions) + 1) // 2
        for part in (regions[:half], regions[half:]):
            futures = [pool.submit(write, region) for region in part]
            wait(futures)
            for future in futures:
                future.result()  # all have ended: re-raise the first error, if any
            checkpoint("state-array")


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush a generation's files and folders to disk before the catalog may point at it."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            _fsync(os.path.join(folder, name))
        _fsync(folder)
