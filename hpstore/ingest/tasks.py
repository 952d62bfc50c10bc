"""The work ``ingest --dask`` gives its Dask workers: module-level functions of small picklable records, which a
worker imports (so hpstore must be installed on it, at the client's version: ``cluster.connect`` checks).

``identify`` reads a chunk of files' headers; ``fold`` reads, hashes, decodes and scans a chunk of one group's
files and adds their frames to exact integer sums (a :class:`Part`); ``merge`` adds two parts; ``take_out``
subtracts the frames of copies found to be duplicates; ``rows_of`` and ``write_band`` merge a band of a
group's sums into its committed state and write those chunks of the new generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpstore import stats
from hpstore.errors import DecodeError, StoreError, UnsupportedFormat
from hpstore.io import PhotoInfo, probe
from hpstore.settings import Settings
from hpstore.store.catalog import FAILED, SKIPPED
from hpstore.store.storage import state_of
from hpstore.testing.faults import checkpoint

from .pipeline import _load, _merged

_BATCH = 16  # frames decoded before they are added to a part's sums (the fold's cache-friendly batch)


@dataclass(frozen=True)
class Seen:
    """What a worker learnt of one file of a chunk: its index in the group's files, content hash and
    standouts, whether its frame is in the part's sums, or why it could not be read."""

    index: int
    digest: str | None = None
    evidence: bytes | None = None
    folded: bool = False
    reason: str | None = None


@dataclass
class Part:
    """Exact integer sums of the frames of some of one group's files, and what was seen of each file."""

    sums: stats.Sums
    files: list[Seen] = field(default_factory=list)


@dataclass(frozen=True)
class Spec:
    """The shape of one group's sums: frames like ``info``'s, sized for ``frames`` frames."""

    shape: tuple[int, ...]
    dtype: str
    d: int | None
    frames: int

    def empty(self) -> stats.Sums:
        return stats.sums_for(self.shape, np.dtype(self.dtype), self.d, frames=self.frames)


def version() -> str:
    """The hpstore version a worker runs (checked against the client's before any work)."""
    from hpstore import __version__

    return __version__


def warm() -> str:
    """Load the compiled fold kernels (for 8- and 16-bit frames, with pair sums) and return the version: a
    worker's first chunk then costs what the others do."""
    for dtype in (np.uint8, np.uint16):
        ring = np.zeros((2, 4, 4, 1), dtype)
        stats.add_slots(stats.sums_for((4, 4, 1), dtype, 1, frames=2), ring, np.arange(2))
    return version()


def identify(paths: list[str]) -> list[PhotoInfo | tuple[str, str]]:
    """Each file's headers, or (status, reason) for a file that cannot be ingested."""
    found: list[PhotoInfo | tuple[str, str]] = []
    for path in paths:
        try:
            found.append(probe(Path(path)))
        except UnsupportedFormat as err:
            found.append((SKIPPED, str(err)))
        except DecodeError as err:
            found.append((FAILED, str(err)))
    return found


def fold(work: list[tuple[int, str, PhotoInfo]], spec: Spec) -> Part:
    """Read, hash, decode and scan the files of ``work`` ((index, path, info) each) and add their frames to
    new sums; a second copy of content in the same chunk is seen but not added."""
    part = Part(spec.empty())
    ring = np.empty((min(_BATCH, max(1, len(work))), *spec.shape), spec.dtype)
    slots: list[int] = []
    digests: set[str] = set()
    for index, path, info in work:
        slot = len(slots)
        try:
            digest, evidence = _load(Path(path), info, ring[slot])
        except DecodeError as err:
            part.files.append(Seen(index, reason=str(err)))
            continue
        checkpoint("worker-decoded")
        folded = digest not in digests
        part.files.append(Seen(index, digest, evidence, folded))
        if folded:
            digests.add(digest)
            slots.append(slot)
        if len(slots) == len(ring):
            stats.add_slots(part.sums, ring, np.asarray(slots, np.int64))
            slots.clear()
    stats.add_slots(part.sums, ring, np.asarray(slots, np.int64))
    return part


def merge(a: Part, b: Part) -> Part:
    """The part of both chunks' files (``a`` is reused: it is never used again once merged)."""
    _add(a.sums, b.sums, 1)
    a.files.extend(b.files)
    return a


def take_out(part: Part, work: list[tuple[int, str, PhotoInfo]], spec: Spec, digests: list[str]) -> Part:
    """``part`` without the frames of the files of ``work`` (counted in it, found to be duplicates since):
    they are decoded again and subtracted, exactly. A file whose content changed meanwhile stops the run."""
    again = fold(work, spec)
    for (_, path, _), seen, digest in zip(work, again.files, digests, strict=True):
        if seen.digest != digest:
            raise StoreError(f"{path} changed during the ingest: run the same command again")
    _add(part.sums, again.sums, -1)
    drop = {index for index, _, _ in work}
    part.files = [
        Seen(s.index, s.digest, s.evidence, False, s.reason) if s.index in drop else s for s in part.files
    ]
    return part


def files_of(part: Part) -> list[Seen]:
    return part.files


def rows_of(part: Part, rows: slice) -> stats.Sums:
    """``part``'s sums over a band of rows (a copy): what one writer of the new generation needs, so that the
    part itself never moves to every writer."""
    sums = part.sums
    pairs = stats.Pairs(sums.pairs.d, sums.pairs.x[rows].copy(), sums.pairs.y[rows].copy()) if sums.pairs else None
    return stats.Sums(sums.n, sums.s1[rows].copy(), sums.s2[rows].copy(), sums.limit, sums.d, pairs)


def write_band(
    settings: Settings,
    base: tuple[int, int, int],
    generation: int,
    sums: stats.Sums,
    row0: int,
    regions: list[Any],
) -> int:
    """Merge ``sums`` (the rows from ``row0`` on) into the committed state ``base`` (group, generation,
    frames) over ``regions``, and write those chunks of the new ``generation``; the number of chunks
    written."""
    state = state_of(settings)
    group_id = base[0]
    state.write_regions(group_id, generation, _merged(state, base, sums, row0), regions)
    return len(regions)


def _add(total: stats.Sums, other: stats.Sums, sign: int) -> None:
    """Add (``sign`` 1) or subtract (-1) ``other``'s frames to ``total``'s, in place. Unsigned sums wrap
    around on subtraction, and come back exactly, since the frames taken out were among those added."""
    pairs = [(total.pairs.x, other.pairs.x), (total.pairs.y, other.pairs.y)] if total.pairs and other.pairs else []
    for mine, theirs in [(total.s1, other.s1), (total.s2, other.s2), *pairs]:
        if sign > 0:
            np.add(mine, theirs, out=mine, casting="unsafe")
        else:
            np.subtract(mine, theirs, out=mine, casting="unsafe")
    total.n += sign * other.n
