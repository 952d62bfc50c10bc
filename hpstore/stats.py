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


@numba.njit(parallel=True, nogil=True, cache=True)
def _fold_int(frames: np.ndarray, n_a: int, mean: np.ndarray, m2: np.ndarray) -> None:  # pragma: no cover
    k = frames.shape[0]
    size = frames.shape[1]
    n = n_a + k
    for p in numba.prange(size):
        s1 = np.int64(0)
        s2 = np.int64(0)
        for i in range(k):
            v = np.int64(frames[i, p])
            s1 += v
            s2 += v * v
        mean_b = s1 / k
        # k * s2 - s1**2 is exact in int64 for k * 65535**2 * k < 2**63, i.e. k < ~46,000 frames of 16 bits.
        m2_b = (k * s2 - s1 * s1) / k
        if n_a == 0:
            mean[p] = mean_b
            m2[p] = m2_b
        else:
            delta = mean_b - mean[p]
            mean[p] += delta * k / n
            m2[p] += m2_b + delta * delta * (n_a * k / n)


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
    if frames.dtype.kind in "ui" and frames.dtype.itemsize <= 2:
        flat = np.ascontiguousarray(frames).reshape(k, -1)
        _fold_int(flat, state.n, state.mean.reshape(-1), state.m2.reshape(-1))
    else:
        batch = frames.astype(np.float64)
        mean_b = batch.mean(axis=0)
        m2_b = ((batch - mean_b) ** 2).sum(axis=0)
        _merge_arrays(state, State(k, mean_b, m2_b))
        return state
    state.n += k
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


def merge(a: State, b: State) -> State:
    """The state of the union of the frames behind ``a`` and ``b`` (a new state; inputs unchanged)."""
    if a.shape != b.shape:
        raise ValueError(f"cannot merge states of shapes {a.shape} and {b.shape}")
    out = a.copy()
    _merge_arrays(out, b)
    return out


def finalize(state: State) -> tuple[F64, F64]:
    """Mean and population variance (``ddof=0``) of every sample; NaN where ``n == 0``."""
    if state.n == 0:
        nan = np.full(state.shape, np.nan)
        return nan, nan.copy()
    return state.mean, state.m2 / state.n
