"""Sparse per-photo evidence: the photosites that stand out from their same-colour neighbours in one photo.

The dense state says *that* a pixel is defective; the time a defect appeared needs evidence per photo. At
ingest every decoded frame is scanned once: a value stands out when it lies more than ``SIGMAS`` times the
frame's noise above the largest, or below the smallest, of its four same-colour neighbours at distance ``d``
(the CFA step on RAW; 2 on developed images, outside a JPEG defect's smear). Edges and lines do not stand
out (one neighbour lies on the same side); isolated points do: defects, and also stars and glints, which
:func:`hpstore.timeaxis.onset` tells apart by when they occur. At most ``CAP`` values per photo are kept, the
largest first: at most 4 KiB per photo in the catalog.

The scan (see :func:`scan`) runs on the decoder threads right after decoding.
"""

from __future__ import annotations

import numba
import numpy as np

from hpstore.ingest.evidence import Standouts

CAP = 512  # values kept per photo
# How far outside its neighbours' range a value must lie, in units of the frame's noise. Pure noise puts
# about 1 value in 10^5 beyond 4 sigma of its four neighbours' range: a few hundred per 36 M samples, under
# ``CAP``. A hot pixel then shows in the first photos dark enough to lift it 4-5 times its noise, rather than
# waiting for a long night exposure; on textured frames ``CAP`` sets the bar anyway. Measured on the
# evaluation archives: first_seen within 3 photos of the truth for 32 of 33 strong and medium defects
# (29 at 6 sigma), detection unchanged, scan time unchanged.
SIGMAS = 4.0
_CHUNKS = 8 * CAP  # chunks pass 2 reads at most: the left/right bound lets through many that hold no value
_BUFFER = 64 * CAP  # candidates gathered from the chunks above the bar
_CHUNK = 1024  # samples of a row per pass-1 bound
_NOISE_ROWS = 6  # rows sampled for the noise estimate
_BLOCK = 64  # differences per block of the noise estimate


# Pass 1: for every chunk of a row, the largest amount by which a value lies outside the range of its left
# and right same-colour neighbours. That bounds the four-neighbour test from above (fewer neighbours, a
# narrower range), reads one row instead of three, and is written with plain comparisons and explicit casts
# (not max()/min() on integers numba widens to int64) so that LLVM vectorises it. 8-bit frames stay in
# uint8 lanes with saturating differences (32 per AVX2 instruction; about 5 ms for a 24 MP RGB frame),
# 16-bit ones take int32 lanes. The two bodies differ in their types only: numba cannot take a type as a
# parameter.
@numba.njit(nogil=True, boundscheck=False, fastmath=True, cache=True)
def _span_best8(row, left, right, n):  # pragma: no cover
    best = np.uint8(0)
    for j in range(n):
        v, c, e = row[j], left[j], right[j]
        hi = c if c > e else e
        lo = c if c < e else e
        s1 = np.uint8(v - hi) if v > hi else np.uint8(0)
        s2 = np.uint8(lo - v) if lo > v else np.uint8(0)
        s = s1 if s1 > s2 else s2
        best = best if best > s else s
    return best


@numba.njit(nogil=True, boundscheck=False, fastmath=True, cache=True)
def _span_best16(row, left, right, n):  # pragma: no cover
    best = np.int32(0)
    for j in range(n):
        v, c, e = np.int32(row[j]), np.int32(left[j]), np.int32(right[j])
        hi = c if c > e else e
        lo = c if c < e else e
        s1 = np.int32(v - hi)
        s2 = np.int32(lo - v)
        s = s1 if s1 > s2 else s2
        best = best if best > s else s
    return best


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _chunk_bests(flat, dc, chunk, wide8, out):  # pragma: no cover
    """``out[r, k]``: the pass-1 best of chunk ``k`` (samples ``dc + k * chunk ...``) of row ``r``."""
    length = flat.shape[1]
    inner = length - 2 * dc
    for r in range(flat.shape[0]):
        row = flat[r]
        for k in range(out.shape[1]):
            lo = k * chunk
            n = min(lo + chunk, inner) - lo
            if wide8:
                out[r, k] = _span_best8(row[dc + lo :], row[lo:], row[2 * dc + lo :], n)
            else:
                out[r, k] = _span_best16(row[dc + lo :], row[lo:], row[2 * dc + lo :], n)


@numba.njit(nogil=True, boundscheck=False, fastmath=True, cache=True)
def _beyond_range(up, row, dn, left, right, n, out):  # pragma: no cover
    """``out[j]``: how far value j lies above its four neighbours' range (> 0), or below it (< 0), else 0
    (vectorised like the pass-1 kernels)."""
    for j in range(n):
        v, a, b, c, e = np.int32(row[j]), np.int32(up[j]), np.int32(dn[j]), np.int32(left[j]), np.int32(right[j])
        ab = a if a > b else b
        ce = c if c > e else e
        hi = ab if ab > ce else ce
        ab = a if a < b else b
        ce = c if c < e else e
        lo = ab if ab < ce else ce
        above = np.int32(v - hi)
        below = np.int32(v - lo)
        out[j] = above if above > 0 else (below if below < 0 else np.int32(0))


@numba.njit(nogil=True, boundscheck=False, cache=True)
def _collect(flat, d, dc, chunk, rows, chunks, limit, index, excess):  # pragma: no cover
    """Pass 2: in the given chunks, the values beyond ``limit`` by the full four-neighbour test, as (flat
    index, signed excess). When the buffers fill up, the weaker half is dropped and the bar raised."""
    length = flat.shape[1]
    inner = length - 2 * dc
    buf = np.empty(chunk, np.int32)
    n = 0
    for i in range(rows.shape[0]):
        r = rows[i]
        row, up, dn = flat[r], flat[r - d], flat[r + d]
        start = dc + chunks[i] * chunk
        m = min(start + chunk, dc + inner) - start
        _beyond_range(up[start:], row[start:], dn[start:], row[start - dc :], row[start + dc :], m, buf)
        for j in range(m):
            s = buf[j]
            if abs(s) <= limit:
                continue
            if n == index.shape[0]:
                limit = max(limit, np.sort(np.abs(excess))[n // 2])
                keep = 0
                for q in range(n):
                    if abs(excess[q]) > limit:
                        index[keep] = index[q]
                        excess[keep] = excess[q]
                        keep += 1
                n = keep
                if abs(s) <= limit:
                    continue
            index[n] = r * length + start + j
            excess[n] = s
            n += 1
    return n


def noise(frame: np.ndarray, d: int) -> float:
    """Robust noise of a frame (DN) in its flatter parts: differences between same-colour neighbours along
    rows, on a sample of rows, in blocks of ``_BLOCK``; the lower quartile of the blocks' MADs. Scene
    texture raises a block's MAD, so the flat blocks set the estimate."""
    rows = frame.shape[0]
    picked = frame[np.linspace(0, rows - 1, min(rows, _NOISE_ROWS)).astype(int)]
    flat = picked.reshape(len(picked), -1).astype(np.int32)
    step = d * frame.shape[2]
    diff = np.abs(flat[:, step:] - flat[:, :-step]).reshape(-1)
    blocks = diff[: diff.size // _BLOCK * _BLOCK].reshape(-1, _BLOCK)
    mad = np.median(blocks, axis=1) if len(blocks) >= 4 else np.array([np.median(diff)])
    return float(1.4826 * np.quantile(mad, 0.25) / np.sqrt(2.0))


def scan(frame: np.ndarray, d: int) -> Standouts:
    """The values of a ``(row, col, channel)`` frame that stand out from their same-colour neighbours.

    Pass 1 bounds every chunk's best from above with the left/right test. When more than ``_CHUNKS`` chunks
    clear the noise bar, the bar is raised to the ``_CHUNKS``-th best chunk's bound (a frame of fine
    texture). Pass 2 applies the four-neighbour test to the chunks above the bar only, and keeps the ``CAP``
    strongest values. The photo's recorded ``threshold`` is the bar a value had to clear in the end."""
    rows, cols, channels = frame.shape
    sigma = max(noise(frame, d), 0.5)
    threshold = SIGMAS * sigma
    if rows <= 2 * d or cols <= 2 * d:
        return Standouts(np.zeros(0, np.int64), np.zeros(0, np.float32), sigma, threshold)
    flat = np.ascontiguousarray(frame).reshape(rows, cols * channels)
    dc = d * channels
    inner = flat.shape[1] - 2 * dc
    best = np.zeros((rows, -(-inner // _CHUNK)), np.int32)
    _chunk_bests(flat, dc, _CHUNK, frame.dtype.itemsize == 1, best)
    best[:d] = 0
    best[rows - d :] = 0
    bound = best.reshape(-1)
    limit = threshold
    if np.count_nonzero(bound > limit) > _CHUNKS:
        # The _CHUNKS-th largest bound, by counting (bounds are small whole numbers, often tied: a selection
        # algorithm degrades on ties). When many chunks tie at it, the bar goes just above it.
        above = np.cumsum(np.bincount(bound)[::-1])
        kth = float(len(above) - 1 - int(np.searchsorted(above, _CHUNKS)))
        limit = max(limit, kth - 0.5 if above[len(above) - 1 - int(kth)] <= 4 * _CHUNKS else kth + 0.5)
    picked_rows, picked_chunks = np.nonzero(best > limit)
    index = np.empty(_BUFFER, np.int64)
    excess = np.empty(_BUFFER, np.float32)
    n = _collect(flat, d, dc, _CHUNK, picked_rows, picked_chunks, np.float32(limit), index, excess)
    order = np.argsort(-np.abs(excess[:n]), kind="stable")
    if n > CAP:  # more values than kept: the bar is the weakest one kept
        limit = max(limit, float(np.abs(excess[order[CAP - 1]])))
        order = order[:CAP]
    return Standouts(index[order], excess[order], sigma, max(threshold, limit))
