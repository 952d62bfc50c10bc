"""Mergeable per-pixel running statistics: count, mean and M2 (sum of squared deviations).

The state of a group of photos is ``State(n, mean, m2)``: ``n`` frames seen (the same for every pixel), and
float64 arrays of the per-sample mean and M2, shaped like one frame ``(row, col, channel)``. Three pure
operations combine everything hpstore does:

``update(state, frames)``
    fold a stack of frames ``(k, row, col, channel)`` into the state. Integer frames are summed exactly in
    integers over the stack, then merged into the float64 state once (Chan et al. 1979), which is both exact
    and far cheaper than a per-frame float Welford step.
``merge(a, b)``
    the state of the union of two disjoint sets of frames (Chan et al.). Batches, worker processes and time
    periods all combine through it.
``finalize(state)``
    mean and population variance (``M2 / n``), as ``numpy.var`` computes them.

A state may also hold :class:`Pairs`: per sample, the sum over the frames of the sign (-1, 0 or 1) of its
difference with its same-colour partner ``d`` samples to the right and ``d`` rows below: in how many photos
it lies above its neighbour rather than below. A defect lies on its side in nearly every photo; a scene's
texture only in some (``hpstore.detect.rank.consistency``). Sign sums are exact integers: they merge by
addition and come out again by subtraction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


@dataclass
class Pairs:
    """Sums over the frames of the sign of each sample's difference with its partner ``d`` samples to the
    right (``x``) and ``d`` rows below (``y``), in the same channel; in the last ``d`` columns (rows) the
    partner lies ``d`` to the left (above) instead. int32 arrays of one frame's shape (narrower in
    :class:`Sums` made for few frames)."""

    d: int
    x: np.ndarray
    y: np.ndarray

    def copy(self) -> Pairs:
        return Pairs(self.d, self.x.copy(), self.y.copy())


def _no_pairs(shape: tuple[int, ...], d: int | None, dtype: type[np.signedinteger] = np.int32) -> Pairs | None:
    return Pairs(d, np.zeros(shape, dtype), np.zeros(shape, dtype)) if d else None


@dataclass
class State:
    """Running statistics of ``n`` frames; ``mean`` and ``m2`` are float64 arrays of one frame's shape.
    ``pairs`` (None in stores written before them) hold the neighbour differences."""

    n: int
    mean: F64
    m2: F64
    pairs: Pairs | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.mean.shape)

    def copy(self) -> State:
        return State(self.n, self.mean.copy(), self.m2.copy(), self.pairs.copy() if self.pairs else None)


def empty(shape: tuple[int, ...], d: int | None = None) -> State:
    """The state of no frames; with neighbour differences at distance ``d`` when given."""
    return State(0, np.zeros(shape, np.float64), np.zeros(shape, np.float64), _no_pairs(shape, d))


_TILE = 2048  # samples per work item: a tile's partial sums stay in L1/L2 cache
_GROUP8 = 256  # most 8-bit frames per tile pass: their sum fits the uint16 partials (256 x 255 < 2**16)
LIMIT8 = 65_000  # 8-bit frames the uint32 sums hold exactly (65,000 x 255**2 < 2**32)
LIMIT16 = 40_000  # 16-bit frames whose n * S2 - S1**2 fits int64 (40,000**2 x 65535**2 < 2**63)


@dataclass
class Sums:
    """Exact integer sums of ``n`` frames, per sample, until they are merged into a state.

    ``s1`` is the sum of the values and ``s2`` the sum of their squares, shaped like one frame: uint32 for
    8-bit frames (``s1`` uint16 in sums made for up to 257), uint64 for 16-bit ones. Adding a frame is a
    few integer operations per sample, with no float state touched; :func:`with_sums` turns the sums into a
    (count, mean, M2) batch and merges it into a :class:`State` once. ``limit`` is the most frames the sums
    hold exactly, and ``pairs`` are int8 or int16 in sums made for few enough.
    """

    n: int
    s1: np.ndarray
    s2: np.ndarray
    limit: int
    d: int | None = None  # partner distance of the pair sums
    pairs: Pairs | None = None  # sign sums against the partners (None: not kept)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.s1.shape)

    @property
    def room(self) -> int:
        """Frames that can still be added before the sums must be merged into a state."""
        return self.limit - self.n

    def clear(self) -> None:
        """Forget the frames held (after they were merged into a state elsewhere)."""
        for array in (self.s1, self.s2, *((self.pairs.x, self.pairs.y) if self.pairs else ())):
            array.fill(0)
        self.n = 0


def sums_for(
    shape: tuple[int, ...], dtype: np.dtype | type, d: int | None = None, frames: int | None = None
) -> Sums:
    """Empty sums for frames of ``shape`` and unsigned integer ``dtype`` (8 or 16 bit); with pair sums at
    partner distance ``d`` when given.

    ``frames`` is the most frames the sums need to hold before they are merged (default: as many as the
    widest types allow). Fewer frames take narrower types: for up to 127 8-bit frames the sums take half
    the memory, which a short run then need not touch for the first time (page faults cost about 1 s per GB
    on virtual machines). The arrays come from ``np.zeros``: untouched pages until the first fold.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "u" or dtype.itemsize > 2:
        raise ValueError(f"integer sums take 8- or 16-bit unsigned frames, not {dtype}")
    limit = LIMIT8 if dtype.itemsize == 1 else LIMIT16
    if frames is not None:
        limit = max(1, min(limit, frames))
    signs: type[np.signedinteger] = np.int32
    if d:
        signs = next(t for t in (np.int8, np.int16, np.int32) if limit <= np.iinfo(t).max)
    total = np.uint16 if dtype.itemsize == 1 and limit * 255 <= np.iinfo(np.uint16).max else _sum_type(dtype)
    wide = _sum_type(dtype)
    return Sums(0, np.zeros(shape, total), np.zeros(shape, wide), limit, d, _no_pairs(shape, d, signs))


def _sum_type(frames: np.dtype) -> type[np.unsignedinteger]:
    return np.uint32 if frames.itemsize == 1 else np.uint64


@numba.njit(inline="always")
def _square8(v):  # pragma: no cover
    # v is a uint16 holding an 8-bit value: its square fits 16 bits, so LLVM keeps 16-bit lanes.
    return np.uint32(np.uint16(v * v))


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _add8(ring, slots, s1, s2, lo, hi):  # pragma: no cover
    """Add samples ``lo:hi`` of the 8-bit frames ``ring[slots]`` (at most ``_GROUP8``) to ``s1``/``s2``.

    Per tile, the frames are summed four at a time into uint16 / uint32 partials that stay in cache, then
    added to the uint32 sums once. The explicit casts keep numba from widening to int64, so that LLVM
    vectorises in 16-bit lanes: a few instructions per sample and frame.
    """
    k = slots.shape[0]
    t1 = np.empty(_TILE, np.uint16)
    t2 = np.empty(_TILE, np.uint32)
    for start in range(lo, hi, _TILE):
        m = min(start + _TILE, hi) - start
        t1[:m] = 0
        t2[:m] = 0
        i = 0
        while i + 4 <= k:
            ra = ring[slots[i], start : start + m]
            rb = ring[slots[i + 1], start : start + m]
            rc = ring[slots[i + 2], start : start + m]
            rd = ring[slots[i + 3], start : start + m]
            for q in range(m):
                a, b, c, d = np.uint16(ra[q]), np.uint16(rb[q]), np.uint16(rc[q]), np.uint16(rd[q])
                t1[q] = np.uint16(t1[q] + np.uint16(np.uint16(a + b) + np.uint16(c + d)))
                pair = np.uint32(_square8(a) + _square8(b)) + np.uint32(_square8(c) + _square8(d))
                t2[q] = np.uint32(t2[q] + np.uint32(pair))
            i += 4
        while i < k:
            ra = ring[slots[i], start : start + m]
            for q in range(m):
                a = np.uint16(ra[q])
                t1[q] = np.uint16(t1[q] + a)
                t2[q] = np.uint32(t2[q] + _square8(a))
            i += 1
        a1 = s1[start : start + m]
        a2 = s2[start : start + m]
        for q in range(m):
            a1[q] = np.uint32(a1[q] + np.uint32(t1[q]))
            a2[q] = np.uint32(a2[q] + t2[q])


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _add16(ring, slots, s1, s2, lo, hi):  # pragma: no cover
    """Add samples ``lo:hi`` of the 16-bit frames ``ring[slots]`` to the uint64 sums, a tile at a time."""
    k = slots.shape[0]
    for start in range(lo, hi, _TILE):
        m = min(start + _TILE, hi) - start
        a1 = s1[start : start + m]
        a2 = s2[start : start + m]
        for i in range(k):
            row = ring[slots[i], start : start + m]
            for q in range(m):
                v = np.uint64(row[q])
                a1[q] += v
                a2[q] += v * v


@numba.njit(nogil=True, boundscheck=False, inline="always")
def _count_signs(g, a, b):  # pragma: no cover
    """``g += sign(a - b)`` over equal-length slices, in int16 lanes (LLVM vectorises the comparisons)."""
    for j in range(g.shape[0]):
        g[j] = np.int16(g[j] + np.int16(a[j] > b[j]) - np.int16(a[j] < b[j]))


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _add_signs(ring, slots, sx, sy, lo, hi, dc, dr, row):  # pragma: no cover
    """Add to ``sx``/``sy`` the signs of the differences of samples ``lo:hi`` of the frames ``ring[slots]``
    (at most ``_GROUP8``) with their partners ``dc`` samples on in the row (back, in a row's last ``dc``
    samples) and ``dr`` samples on (back in the last rows). ``row`` is the samples per row. Per tile the
    frames are counted into int16 partials that stay in cache, then added to the int32 sums once."""
    k = slots.shape[0]
    size = ring.shape[1]
    gx = np.empty(_TILE, np.int16)
    gy = np.empty(_TILE, np.int16)
    ahead = dc if row > dc else 0  # a row too short for a partner: the sample is its own
    for start in range(lo, hi, _TILE):
        stop = min(start + _TILE, hi)
        gx[: stop - start] = 0
        gy[: stop - start] = 0
        for i in range(k):
            frame = ring[slots[i]]
            q = start
            while q < stop:
                first = (q // row) * row
                end = min(first + row, stop)
                split = min(max(first + row - dc, q), end)
                vo = dr if first + dr < size else (-dr if first >= dr else 0)
                here = frame[q:end]
                _count_signs(gy[q - start : end - start], here, frame[q + vo : end + vo])
                _count_signs(gx[q - start : split - start], frame[q:split], frame[q + ahead : split + ahead])
                for p in range(split, end):  # the last dc of a row: the partner lies back
                    a, b = frame[p], frame[p - dc if p - first >= dc else p]
                    gx[p - start] += np.int16(a > b) - np.int16(a < b)
                q = end
        for q in range(stop - start):
            sx[start + q] += gx[q]
            sy[start + q] += gy[q]


_ROW_TILE = 16384  # samples of a row per pass of the fused 8-bit fold: its partials (128 KB) stay in L2
_GROUP_SIGNS = 127  # most frames per pass of the fused 8-bit fold: their sign sums fit int8 partials


@numba.njit(nogil=True, boundscheck=False, inline="always")
def _squares8(t1, t2, a):  # pragma: no cover
    for j in range(t1.shape[0]):
        v = np.uint16(a[j])
        t1[j] = np.uint16(t1[j] + v)
        t2[j] = np.uint32(t2[j] + _square8(v))


@numba.njit(nogil=True, boundscheck=False, inline="always")
def _signs8(g, a, b):  # pragma: no cover
    """``g += sign(a - b)`` in int8 lanes (64 per AVX-512 instruction)."""
    for j in range(g.shape[0]):
        g[j] = np.int8(g[j] + np.int8(a[j] > b[j]) - np.int8(a[j] < b[j]))


@numba.njit(nogil=True, boundscheck=False, inline="always")
def _add_to(total, part):  # pragma: no cover
    """``total += part``, in ``total``'s type (wide enough for the result; numba would widen to 64 bits)."""
    kind = total.dtype.type
    for j in range(total.shape[0]):
        total[j] = kind(total[j] + kind(part[j]))


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _fold8(ring, slots, s1, s2, sx, sy, lo, hi, dc, dr, row):  # pragma: no cover
    """Add samples ``lo:hi`` of the 8-bit frames ``ring[slots]`` (at most ``_GROUP_SIGNS``) to the sums of
    values and squares and to the sign sums against the partners (as ``_add8`` then ``_add_signs``, which
    read each frame twice).

    Per piece of a row, each frame's samples are read once, while in L1, by three plain loops that LLVM
    vectorises: values and squares in 16/32-bit lanes, signs in 8-bit lanes. The partials are added to the
    sums once per piece.
    """
    k = slots.shape[0]
    size = ring.shape[1]
    t1 = np.empty(_ROW_TILE, np.uint16)
    t2 = np.empty(_ROW_TILE, np.uint32)
    gx = np.empty(_ROW_TILE, np.int8)
    gy = np.empty(_ROW_TILE, np.int8)
    q = lo
    while q < hi:
        first = (q // row) * row
        end = min(first + row, hi, q + _ROW_TILE)
        m = end - q
        split = min(max(first + row - dc, q), end)  # from here on the row partner lies back
        ms = split - q
        back = split - dc >= first  # a row too short for a partner: the sample is its own
        vo = dr if first + dr < size else (-dr if first >= dr else 0)
        t1[:m] = 0
        t2[:m] = 0
        gx[:m] = 0
        gy[:m] = 0
        for i in range(k):
            f = ring[slots[i]]
            _squares8(t1[:m], t2[:m], f[q:end])
            _signs8(gy[:m], f[q:end], f[q + vo : end + vo])
            _signs8(gx[:ms], f[q:split], f[q + dc : split + dc])
            if back:
                _signs8(gx[ms:m], f[split:end], f[split - dc : end - dc])
            else:
                for p in range(split, end):
                    a, b = f[p], f[p - dc if p - first >= dc else p]
                    gx[p - q] += np.int8(a > b) - np.int8(a < b)
        _add_to(s1[q:end], t1[:m])
        _add_to(s2[q:end], t2[:m])
        _add_to(sx[q:end], gx[:m])
        _add_to(sy[q:end], gy[:m])
        q = end


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _merge_sums(mean, m2, n_a, s1, s2, n_b):  # pragma: no cover
    """Merge the sums of ``n_b`` frames into ``mean``/``m2`` of ``n_a`` frames (``(rows, samples)`` arrays
    whose rows may be strided, see ``_rows``; with ``n_a == 0`` their content is ignored).
    ``n_b * S2 - S1**2`` is exact in int64 (see ``LIMIT8``/``LIMIT16``), so the batch's M2 is rounded
    once."""
    n = n_a + n_b
    w = n_b / n
    c = n_a * n_b / n
    inv_b = 1.0 / n_b
    rows, width = s1.shape
    for i in range(rows):
        if n_a == 0:  # two loops, so that each vectorises
            for j in range(width):
                t1 = np.int64(s1[i, j])
                mean[i, j] = np.float64(t1) * inv_b
                m2[i, j] = np.float64(np.int64(n_b) * np.int64(s2[i, j]) - t1 * t1) * inv_b
            continue
        for j in range(width):
            t1 = np.int64(s1[i, j])
            mean_b = np.float64(t1) * inv_b
            m2_b = np.float64(np.int64(n_b) * np.int64(s2[i, j]) - t1 * t1) * inv_b
            delta = mean_b - mean[i, j]
            mean[i, j] += delta * w
            m2[i, j] += m2_b + delta * delta * c


@numba.njit(parallel=True, nogil=True, cache=True)
def _merge_into(
    mean_a: np.ndarray, m2_a: np.ndarray, n_a: int, mean_b: np.ndarray, m2_b: np.ndarray, n_b: int
) -> None:  # pragma: no cover
    n = n_a + n_b
    w = n_b / n
    c = n_a * n_b / n
    for p in numba.prange(mean_a.shape[0]):
        delta = mean_b[p] - mean_a[p]
        mean_a[p] += delta * w
        m2_a[p] += m2_b[p] + delta * delta * c


def update(state: State, frames: np.ndarray) -> State:
    """Fold a stack of frames into ``state``, in place, and return it.

    Parameters
    ----------
    state
        Statistics so far; its arrays are updated in place (states are large: a 24 MP RGB state is 1.15 GB).
    frames
        ``(k, *state.shape)`` stack of unsigned 8- or 16-bit integers (summed exactly), or floats.
    """
    frames = np.asarray(frames)
    if frames.shape[1:] != state.shape:
        raise ValueError(f"frames of shape {frames.shape[1:]} do not fit a state of shape {state.shape}")
    k = frames.shape[0]
    if k == 0:
        return state
    d = state.pairs.d if state.pairs is not None else None
    if frames.dtype.kind == "u" and frames.dtype.itemsize <= 2:
        frames = np.ascontiguousarray(frames)
        sums = sums_for(state.shape, frames.dtype, d)
        for start in range(0, k, sums.limit):
            add_slots(sums, frames, np.arange(start, min(k, start + sums.limit)))
            flush(state, sums)
        return state
    batch = frames.astype(np.float64)
    mean_b = batch.mean(axis=0)
    pairs = Pairs(d, *pair_signs(frames, d)) if d else None
    _merge_arrays(state, State(k, mean_b, ((batch - mean_b) ** 2).sum(axis=0), pairs))
    return state


def partners(size: int, d: int) -> np.ndarray:
    """Index of each position's partner along an axis of ``size``: ``d`` on, or ``d`` back in the last ``d``
    positions (itself when the axis is too short for either)."""
    at = np.arange(size)
    ahead = np.where(at + d < size, at + d, at - d)
    return np.where(ahead >= 0, ahead, at)


def pair_signs(frames: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums over ``frames`` ``(k, row, col, ...)`` of the sign of each sample's difference with its partner
    in the row and in the column (see :class:`Pairs`): what the integer pair sums hold."""
    right = np.sign(frames - frames[:, :, partners(frames.shape[2], d)].astype(np.float64))
    below = np.sign(frames - frames[:, partners(frames.shape[1], d)].astype(np.float64))
    return right.sum(axis=0).astype(np.int32), below.sum(axis=0).astype(np.int32)


Runner = Callable[[Callable[[int, int], None], list[tuple[int, int]]], None]


def _run_here(work: Callable[[int, int], None], pieces: list[tuple[int, int]]) -> None:
    for lo, hi in pieces:
        work(lo, hi)


def _split(size: int, pieces: int) -> list[tuple[int, int]]:
    """``pieces`` ranges of ``range(size)``, cut at tile boundaries."""
    step = -(-size // max(1, pieces) // _TILE) * _TILE or _TILE
    return [(lo, min(lo + step, size)) for lo in range(0, size, step)]


def add_slots(sums: Sums, ring: np.ndarray, slots: np.ndarray, run: Runner | None = None, pieces: int = 1) -> Sums:
    """Add the frames ``ring[slots]`` to ``sums`` in place, without gathering them first.

    ``ring`` is a ``(capacity, *sums.shape)`` array of 8- or 16-bit unsigned frames (a pool of decode
    buffers) of the dtype ``sums`` was made for; ``slots`` the indices of the frames to add. The work is
    cut into ``pieces`` ranges of samples, done by ``run(work, ranges)`` (default: one after the other in
    this thread). Ingest hands them to its decoder threads, so folding and decoding share the cores
    without oversubscribing them.
    """
    if ring.shape[1:] != sums.shape:
        raise ValueError(f"frames of shape {ring.shape[1:]} do not fit sums of shape {sums.shape}")
    if sums.s2.dtype != _sum_type(ring.dtype):
        raise ValueError(f"frames of {ring.dtype} do not fit sums made for the other sample size")
    if len(slots) > sums.room:
        raise ValueError(f"{len(slots)} more frames would overflow the sums: merge them first ({sums.room} fit)")
    if len(slots) == 0:
        return sums
    flat = ring.reshape(ring.shape[0], -1)
    s1, s2 = sums.s1.reshape(-1), sums.s2.reshape(-1)
    index = np.asarray(slots, np.int64)
    groups = [index[at : at + _GROUP_SIGNS] for at in range(0, len(index), _GROUP_SIGNS)]
    kernel = _add8 if ring.dtype.itemsize == 1 else _add16
    steps = None
    if sums.d and sums.pairs is not None:
        row = int(np.prod(sums.shape[1:]))  # samples per row
        channels = int(np.prod(sums.shape[2:]))
        sx, sy = sums.pairs.x.reshape(-1), sums.pairs.y.reshape(-1)
        steps = (sums.d * channels, sums.d * row, row)

    def work(lo: int, hi: int) -> None:
        for group in groups:
            if steps is None:
                kernel(flat, group, s1, s2, lo, hi)
            elif ring.dtype.itemsize == 1:
                _fold8(flat, group, s1, s2, sx, sy, lo, hi, *steps)
            else:
                kernel(flat, group, s1, s2, lo, hi)
                _add_signs(flat, group, sx, sy, lo, hi, *steps)

    (run or _run_here)(work, _split(flat.shape[1], pieces))
    sums.n += len(slots)
    return sums


def _rows(a: np.ndarray) -> np.ndarray:
    """``a`` as ``(rows, samples per row)``, a view of the same memory (a region of whole chunks or of a
    frame, whose rows' samples lie together). Raises ``AttributeError`` where that would take a copy."""
    view = a.view()
    view.shape = (a.shape[0], -1)
    return view


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _copy_rows(src, out):  # pragma: no cover
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            out[i, j] = src[i, j]


def _widened(signs: np.ndarray) -> np.ndarray:
    """A region of narrow sign sums as a new int32 array (numpy's strided cast is 10x slower)."""
    out = np.empty(signs.shape, np.int32)
    _copy_rows(_rows(signs), _rows(out))
    return out


def with_sums(base: State | None, sums: Sums, region: tuple[slice, ...]) -> State:
    """The state over ``region`` (leading axes of the frame) of the frames behind ``base`` and those held
    by ``sums`` (Chan et al.). ``base`` is that region of a state, updated in place and returned (``None``:
    no frames before, new arrays); ``sums`` are left as they are."""
    s1, s2 = sums.s1[region], sums.s2[region]
    if base is None and sums.n:  # the merge writes every sample: no zeros to write first
        pairs = None
        if sums.d and sums.pairs is not None:
            pairs = Pairs(sums.d, _widened(sums.pairs.x[region]), _widened(sums.pairs.y[region]))
        fresh = State(0, np.empty(s1.shape, np.float64), np.empty(s1.shape, np.float64), pairs)
        _merge_sums(_rows(fresh.mean), _rows(fresh.m2), 0, _rows(s1), _rows(s2), sums.n)
        fresh.n = sums.n
        return fresh
    if base is None:  # the state of no frames
        base = empty(s1.shape, sums.d)
    if base.shape != s1.shape:
        raise ValueError(f"sums of shape {s1.shape} do not fit a state of shape {base.shape}")
    if sums.n:
        if base.pairs is not None and sums.pairs is not None and base.pairs.d == sums.d:
            base.pairs.x += sums.pairs.x[region]
            base.pairs.y += sums.pairs.y[region]
        else:
            base.pairs = None  # frames without pairs (an older store) leave the state without them
        _merge_sums(_rows(base.mean), _rows(base.m2), base.n, _rows(s1), _rows(s2), sums.n)
        base.n += sums.n
    return base


def flush(state: State, sums: Sums) -> State:
    """Merge the frames held by ``sums`` into ``state``, in place, and empty the sums."""
    with_sums(state, sums, (slice(None),))
    sums.clear()
    return state


def _merge_arrays(a: State, b: State) -> None:
    """Merge ``b`` into ``a`` in place (``a.n`` updated too)."""
    if b.n == 0:
        return
    if a.pairs is not None and b.pairs is not None and a.pairs.d == b.pairs.d:
        a.pairs.x += b.pairs.x
        a.pairs.y += b.pairs.y
    elif a.n == 0 and b.pairs is not None:
        a.pairs = b.pairs.copy()
    else:
        a.pairs = None
    if a.n == 0:
        a.mean[...] = b.mean
        a.m2[...] = b.m2
    else:
        _merge_into(a.mean.reshape(-1), a.m2.reshape(-1), a.n, b.mean.reshape(-1), b.m2.reshape(-1), b.n)
    a.n += b.n


def merge_into(a: State, b: State) -> State:
    """Merge ``b`` into ``a`` in place (no copy of the large arrays) and return ``a``."""
    if a.shape != b.shape:
        raise ValueError(f"cannot merge states of shapes {a.shape} and {b.shape}")
    _merge_arrays(a, b)
    return a


def remove_from(a: State, b: State) -> State:
    """Take the frames behind ``b`` out of ``a``, in place, and return ``a``: Chan et al.'s merge solved for
    one of its parts. ``b``'s frames must be among ``a``'s.

    With ``k = a.n - b.n`` frames kept: ``mean_k = (n_a mean_a - n_b mean_b) / k`` and
    ``M2_k = M2_a - M2_b - (mean_b - mean_k)^2 k n_b / n_a``. In float64 the error is that of the inputs
    times ``n_a / k`` (about 1e-13 relative when 1 of 1,000 frames is kept); M2 is kept non-negative.
    """
    if a.shape != b.shape:
        raise ValueError(f"cannot take a state of shape {b.shape} out of one of shape {a.shape}")
    kept = a.n - b.n
    if kept < 0:
        raise ValueError(f"cannot take {b.n} frames out of a state of {a.n}")
    if a.pairs is not None and (b.pairs is None or b.pairs.d != a.pairs.d) and b.n:
        a.pairs = None  # what the removed frames added is unknown
    elif a.pairs is not None and b.pairs is not None and b.n:
        a.pairs.x -= b.pairs.x
        a.pairs.y -= b.pairs.y
    if kept == 0:
        a.mean.fill(0.0)
        a.m2.fill(0.0)
    elif b.n:
        mean_b = b.mean.astype(np.float64, copy=False)
        a.mean *= a.n / kept
        a.mean -= mean_b * (b.n / kept)
        a.m2 -= b.m2
        a.m2 -= (mean_b - a.mean) ** 2 * (kept * b.n / a.n)
        np.maximum(a.m2, 0.0, out=a.m2)
    a.n = kept
    return a


def merge(a: State, b: State) -> State:
    """The state of the union of the frames behind ``a`` and ``b`` (a new state; inputs unchanged)."""
    return merge_into(a.copy(), b)


def finalize(state: State) -> tuple[F64, F64]:
    """Mean and population variance (``ddof=0``) of every sample; NaN where ``n == 0``."""
    if state.n == 0:
        nan = np.full(state.shape, np.nan)
        return nan, nan.copy()
    return state.mean, state.m2 / state.n
