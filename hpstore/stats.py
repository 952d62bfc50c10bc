"""Mergeable per-pixel running statistics: count, mean and M2 (sum of squared deviations).

The state of a group of photos is ``State(n, mean, m2)``: ``n`` frames seen (the same for every pixel), and
float64 arrays of the per-sample mean and M2, shaped like one frame ``(row, col, channel)``. Three pure
operations combine everything hpstore does:

``update(state, frames)``
    fold a stack of frames ``(k, row, col, channel)`` into the state. Integer frames are summed exactly in
    int64 over the stack, then merged into the float64 state once (Chan et al. 1979), which is both exact and
    about 50 x cheaper than a per-frame float Welford step.
``merge(a, b)``
    the state of the union of two disjoint sets of frames (Chan et al.). Batches, worker processes and time
    periods all combine through it.
``finalize(state)``
    mean and population variance (``M2 / n``), as ``numpy.var`` computes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


@dataclass
class State:
    """Running statistics of ``n`` frames; ``mean`` and ``m2`` are float64 arrays of one frame's shape."""

    n: int
    mean: F64
    m2: F64

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.mean.shape)

    def copy(self) -> State:
        return State(self.n, self.mean.copy(), self.m2.copy())


def empty(shape: tuple[int, ...]) -> State:
    """The state of no frames."""
    return State(0, np.zeros(shape, np.float64), np.zeros(shape, np.float64))


_TILE = 4096  # samples per work item: the tile's partial sums stay in L1/L2 cache
_MAX_FOLD = 65_000  # frames per fold for which the exact integer sums cannot overflow


@numba.njit(nogil=True, cache=True)
def _fold_range(
    ring: np.ndarray,
    slots: np.ndarray,
    n_a: int,
    mean: np.ndarray,
    m2: np.ndarray,
    acc: np.ndarray,
    lo: int,
    hi: int,
) -> None:  # pragma: no cover
    """Fold samples ``lo:hi`` of the frames ``ring[slots]`` into ``mean``/``m2`` (one thread, no GIL)."""
    k = slots.shape[0]
    inv_k = 1.0 / k
    w = k / (n_a + k)
    c = n_a * k / (n_a + k)
    # Sums of a tile's samples in the type of ``acc``: exact in uint32 for 8-bit samples while
    # k * 255**2 < 2**32 (k < 66,000), in float64 for 16-bit ones while k * 65535**2 < 2**53.
    s1 = np.zeros(_TILE, acc.dtype)
    s2 = np.zeros(_TILE, acc.dtype)
    for start in range(lo, hi, _TILE):
        m = min(start + _TILE, hi) - start
        s1[:] = 0
        s2[:] = 0
        for i in range(k):
            row = ring[slots[i], start : start + m]
            for q in range(m):
                v = row[q]
                s1[q] += v
                s2[q] += v * v
        for q in range(m):
            total = np.float64(s1[q])
            mean_b = total * inv_k
            m2_b = np.float64(s2[q]) - total * mean_b
            if n_a == 0:
                mean[start + q] = mean_b
                m2[start + q] = m2_b
            else:
                delta = mean_b - mean[start + q]
                mean[start + q] += delta * w
                m2[start + q] += m2_b + delta * delta * c


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
    if frames.dtype.kind == "u" and frames.dtype.itemsize <= 2:
        frames = np.ascontiguousarray(frames)
        for start in range(0, k, _MAX_FOLD):
            update_slots(state, frames, np.arange(start, min(k, start + _MAX_FOLD)))
        return state
    batch = frames.astype(np.float64)
    mean_b = batch.mean(axis=0)
    _merge_arrays(state, State(k, mean_b, ((batch - mean_b) ** 2).sum(axis=0)))
    return state


Runner = Callable[[Callable[[int, int], None], list[tuple[int, int]]], None]


def _run_here(fold: Callable[[int, int], None], pieces: list[tuple[int, int]]) -> None:
    for lo, hi in pieces:
        fold(lo, hi)


def update_slots(
    state: State, ring: np.ndarray, slots: np.ndarray, run: Runner | None = None, pieces: int = 1
) -> State:
    """Fold the frames ``ring[slots]`` into ``state`` in place, without gathering them first.

    ``ring`` is a ``(capacity, *state.shape)`` array of 8- or 16-bit unsigned frames (a pool of decode
    buffers); ``slots`` the indices of the frames to fold. The work is cut into ``pieces`` ranges of samples,
    folded by ``run(fold, ranges)`` (default: one after the other in this thread). Ingest hands them to its
    decoder threads, so folding and decoding share the cores without oversubscribing them.
    """
    if ring.shape[1:] != state.shape:
        raise ValueError(f"frames of shape {ring.shape[1:]} do not fit a state of shape {state.shape}")
    if len(slots) == 0:
        return state
    if len(slots) > _MAX_FOLD:
        raise ValueError(f"fold at most {_MAX_FOLD} frames at once, not {len(slots)}")
    flat = ring.reshape(ring.shape[0], -1)
    size = flat.shape[1]
    index = np.asarray(slots, np.int64)
    acc = np.zeros(1, np.uint32 if ring.dtype.itemsize == 1 else np.float64)
    mean, m2, n_a = state.mean.reshape(-1), state.m2.reshape(-1), state.n

    def fold(lo: int, hi: int) -> None:
        _fold_range(flat, index, n_a, mean, m2, acc, lo, hi)

    step = -(-size // max(1, pieces) // _TILE) * _TILE or _TILE
    (run or _run_here)(fold, [(lo, min(lo + step, size)) for lo in range(0, size, step)])
    state.n += len(slots)
    return state


def _merge_arrays(a: State, b: State) -> None:
    """Merge ``b`` into ``a`` in place (``a.n`` updated too)."""
    if b.n == 0:
        return
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


def merge(a: State, b: State) -> State:
    """The state of the union of the frames behind ``a`` and ``b`` (a new state; inputs unchanged)."""
    return merge_into(a.copy(), b)


def finalize(state: State) -> tuple[F64, F64]:
    """Mean and population variance (``ddof=0``) of every sample; NaN where ``n == 0``."""
    if state.n == 0:
        nan = np.full(state.shape, np.nan)
        return nan, nan.copy()
    return state.mean, state.m2 / state.n
