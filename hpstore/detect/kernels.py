"""numba kernels of the ranking, every one streaming: a sample against its 8 same-colour neighbours, the
local noise scale of a tile, the photos' sign test and the score that combines them.

The whole-frame kernels work tile by tile (``TILE`` samples of one colour per side): each sample's
neighbourhood is sorted once, into buffers the size of a tile, and only the float32 z-score is written, so
a 24 MP state needs no temporary map of its size. The point kernels compute the same numbers at a single
sample (with the same code, so they agree to the bit) for the few candidates that need the rest: the
neighbours' median, the spread's z-score.

Points may be read from a window of a plane: ``a`` holds rows ``oy ..`` and columns ``ox ..`` of a plane of
``h x w`` samples, and the window must reach ``MARGIN x d`` samples beyond the sample's tile (or the plane's
border).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

Index = int | np.integer[Any]  # numba hands loop indices on as numpy integers
MARGIN = 8  # neighbour steps a sample near the plane's border may look along it

# Batcher's odd-even merge sort for 8 values: 19 compare-exchanges, no branches to mispredict.
_NETWORK8 = (
    (0, 1), (2, 3), (4, 5), (6, 7), (0, 2), (1, 3), (4, 6), (5, 7), (1, 2), (5, 6),
    (0, 4), (1, 5), (2, 6), (3, 7), (2, 4), (3, 5), (1, 2), (3, 4), (5, 6),
)  # fmt: skip


@numba.njit(cache=True, inline="always")
def _sort8(buf: np.ndarray) -> None:  # pragma: no cover
    for i, j in _NETWORK8:
        lo = min(buf[i], buf[j])
        hi = max(buf[i], buf[j])
        buf[i] = lo
        buf[j] = hi


@numba.njit(cache=True)
def _along(
    a: np.ndarray, oy: int, ox: int, h: int, w: int, y: Index, x: Index, dy: int, dx: int, d: int, buf: np.ndarray
) -> None:  # pragma: no cover
    """Fill ``buf`` with the 8 samples nearest to (y, x) at multiples of ``d`` along direction (dy, dx)."""
    k = 0
    step = 1
    while k < 8 and step < h + w:
        for sign in (-1, 1):
            yy = y + sign * step * d * dy
            xx = x + sign * step * d * dx
            if k < 8 and 0 <= yy < h and 0 <= xx < w:
                buf[k] = a[yy - oy, xx - ox]
                k += 1
        step += 1
    while k < 8:  # a line shorter than 9 samples: repeat the sample itself
        buf[k] = a[y - oy, x - ox]
        k += 1


@numba.njit(cache=True)
def sample(
    a: np.ndarray, oy: int, ox: int, h: int, w: int, y: Index, x: Index, d: int, buf: np.ndarray
) -> tuple[Any, Any, Any]:  # pragma: no cover
    """Compare sample (y, x) with its 8 neighbours at distance ``d``: (their median, the residual
    ``a - clip(a, 3rd lowest, 3rd highest neighbour)``, their spread ``3rd highest - 3rd lowest``).

    The residual is zero for a sample that agrees with at least three neighbours on each side: the corner
    of a bright area or a line two samples wide is not an outlier, while a lone defect stands apart from all
    eight. Samples closer than ``d`` to the border are compared with the 8 nearest samples of their colour
    along the border line instead: across it, an edge of the scene parallel to the border would fool them.
    """
    up = y - d
    down = y + d
    if up < 0 or down >= h:
        _along(a, oy, ox, h, w, y, x, 0, 1, d, buf)
    elif x < d or x + d >= w:
        _along(a, oy, ox, h, w, y, x, 1, 0, d, buf)
    else:
        r0, r1, r2 = up - oy, y - oy, down - oy
        c0, c1, c2 = x - d - ox, x - ox, x + d - ox
        buf[0] = a[r0, c0]
        buf[1] = a[r0, c1]
        buf[2] = a[r0, c2]
        buf[3] = a[r1, c0]
        buf[4] = a[r1, c2]
        buf[5] = a[r2, c0]
        buf[6] = a[r2, c1]
        buf[7] = a[r2, c2]
    _sort8(buf)
    v = a[y - oy, x - ox]
    return 0.5 * (buf[3] + buf[4]), v - min(max(v, buf[2]), buf[5]), buf[5] - buf[2]


@numba.njit(cache=True, inline="always")
def _ce(a: float, b: float) -> tuple[float, float]:  # pragma: no cover
    return min(a, b), max(a, b)


@numba.njit(cache=True)
def _lattice(
    lat: np.ndarray, g: int, ny: int, nx: int, res: np.ndarray, spread: np.ndarray
) -> None:  # pragma: no cover
    """:func:`sample`'s residual and spread of the ``ny x nx`` samples of one lattice held, with a margin of
    ``g`` samples, in the contiguous plane ``lat`` (neighbours ``g`` apart). Branch-free, so that LLVM
    vectorises it: the sorting network runs on registers, a few samples at a time."""
    for i in range(ny):
        up, mid, down = lat[i], lat[i + g], lat[i + 2 * g]
        for j in range(nx):
            a0, a1 = _ce(up[j], up[j + g])
            a2, a3 = _ce(up[j + 2 * g], mid[j])
            a4, a5 = _ce(mid[j + 2 * g], down[j])
            a6, a7 = _ce(down[j + g], down[j + 2 * g])
            # the rest of Batcher's network (see _NETWORK8)
            a0, a2 = _ce(a0, a2)
            a1, a3 = _ce(a1, a3)
            a4, a6 = _ce(a4, a6)
            a5, a7 = _ce(a5, a7)
            a1, a2 = _ce(a1, a2)
            a5, a6 = _ce(a5, a6)
            a0, a4 = _ce(a0, a4)
            a1, a5 = _ce(a1, a5)
            a2, a6 = _ce(a2, a6)
            a3, a7 = _ce(a3, a7)
            a2, a4 = _ce(a2, a4)
            a3, a5 = _ce(a3, a5)
            a1, a2 = _ce(a1, a2)
            a3, a4 = _ce(a3, a4)
            a5, a6 = _ce(a5, a6)
            v = mid[j + g]
            res[i * nx + j] = v - min(max(v, a2), a5)
            spread[i * nx + j] = a5 - a2


@numba.njit(parallel=True, cache=True)
def zmap(
    values: np.ndarray, d: int, step: int, tile: int, k: float, floor: float
) -> np.ndarray:  # pragma: no cover
    """The z-score of every sample of a ``(row, col, channel)`` map, float32: its residual (:func:`sample`)
    over ``max(k x median spread, floor)``, the median taken over the tile of ``tile`` x ``tile`` samples of
    its lattice (one CFA colour) that holds it: the local noise scale.

    Each tile's lattice is copied with a margin into a small contiguous plane, where the samples away from
    the border are compared branch-free (:func:`_lattice`); those within ``d`` of the border, by
    :func:`sample`."""
    h, w, channels = values.shape
    out = np.empty((h, w, channels), np.float32)
    span = tile * step
    g = d // step  # neighbours' distance within a lattice
    ty_n = (h + span - 1) // span
    tx_n = (w + span - 1) // span
    for t in numba.prange(ty_n * tx_n):
        y0 = np.int64(t // tx_n) * span
        x0 = np.int64(t % tx_n) * span
        y1 = min(y0 + span, h)
        x1 = min(x0 + span, w)
        edge = y0 < d or x0 < d or y1 > h - d or x1 > w - d
        buf = np.empty(8, values.dtype)
        lat = np.zeros((tile + 2 * g, tile + 2 * g), values.dtype)
        res = np.empty(tile * tile, values.dtype)
        spread = np.empty(tile * tile, values.dtype)
        for c in range(channels):
            for oy in range(step):
                for ox in range(step):
                    ny = (y1 - y0 - oy + step - 1) // step
                    nx = (x1 - x0 - ox + step - 1) // step
                    if ny <= 0 or nx <= 0:
                        continue
                    for i in range(ny + 2 * g):
                        y = y0 + oy + (i - g) * step
                        if 0 <= y < h:
                            for j in range(nx + 2 * g):
                                x = x0 + ox + (j - g) * step
                                if 0 <= x < w:
                                    lat[i, j] = values[y, x, c]
                    _lattice(lat, g, ny, nx, res, spread)
                    if edge:
                        a = values[:, :, c]
                        for i in range(ny):
                            y = y0 + oy + i * step
                            for j in range(nx):
                                x = x0 + ox + j * step
                                if y < d or x < d or y >= h - d or x >= w - d:
                                    _, res[i * nx + j], spread[i * nx + j] = sample(a, 0, 0, h, w, y, x, d, buf)
                    scale = max(np.median(spread[: ny * nx]) * k, floor)
                    for i in range(ny):
                        y = y0 + oy + i * step
                        for j in range(nx):
                            out[y, x0 + ox + j * step, c] = res[i * nx + j] / scale
    return out


@numba.njit(parallel=True, cache=True)
def neighbour_medians(a: np.ndarray, d: int) -> np.ndarray:  # pragma: no cover
    """The neighbours' median (:func:`sample`) of every sample of a 2-D plane, float32."""
    h, w = a.shape
    out = np.empty((h, w), np.float32)
    for row in numba.prange(h):
        y = np.int64(row)
        buf = np.empty(8, a.dtype)
        for x in range(w):
            out[y, x] = sample(a, 0, 0, h, w, y, x, d, buf)[0]
    return out


@numba.njit(cache=True)
def z_at(
    a: np.ndarray,
    oy: int,
    ox: int,
    h: int,
    w: int,
    y: int,
    x: int,
    d: int,
    step: int,
    tile: int,
    k: float,
    floor: float,
) -> np.float32:  # pragma: no cover
    """:func:`zmap` at one sample, of a window ``a`` (see the module's docstring)."""
    span = tile * step
    y0 = (y // span) * span
    x0 = (x // span) * span
    y1 = min(y0 + span, h)
    x1 = min(x0 + span, w)
    buf = np.empty(8, a.dtype)
    spread = np.empty(tile * tile, a.dtype)
    m = 0
    for yy in range(y0 + (y - y0) % step, y1, step):
        for xx in range(x0 + (x - x0) % step, x1, step):
            spread[m] = sample(a, oy, ox, h, w, yy, xx, d, buf)[2]
            m += 1
    scale = max(np.median(spread[:m]) * k, floor)
    res = sample(a, oy, ox, h, w, y, x, d, buf)[1]
    return np.float32(res / scale)


@numba.njit(cache=True)
def median_at(
    a: np.ndarray, oy: int, ox: int, h: int, w: int, y: Index, x: Index, d: int
) -> Any:  # pragma: no cover
    """The neighbours' median of one sample (:func:`sample`), of a window ``a``."""
    return sample(a, oy, ox, h, w, y, x, d, np.empty(8, a.dtype))[0]


@numba.njit(cache=True, inline="always")
def sign_at(
    sx: np.ndarray, sy: np.ndarray, d: int, y: Index, x: Index, c: int, scale: float
) -> np.float32:  # pragma: no cover
    """The sign test of sample (y, x, c) against its four partners (``hpstore.detect.evidence.consistency``):
    ``scale`` x the second weakest of the four mean signs when three agree, else 0. Branch-free (selects
    only), so that a loop over a row that calls it vectorises."""
    up = y - d if y >= d else y  # the pair (partner above, sample) is kept at the partner
    flip_up = np.int32(-1) if y >= d else np.int32(1)
    left = x - d if x >= d else x
    flip_left = np.int32(-1) if x >= d else np.int32(1)
    a = np.int32(sx[y, x, c])
    b = flip_left * np.int32(sx[y, left, c])
    e = np.int32(sy[y, x, c])
    f = flip_up * np.int32(sy[up, x, c])
    # the middle two of four: sort the pairs, then the second lowest and the second highest
    lo1, hi1 = min(a, b), max(a, b)
    lo2, hi2 = min(e, f), max(e, f)
    second_low = min(max(lo1, lo2), min(hi1, hi2))
    second_high = max(max(lo1, lo2), min(hi1, hi2))
    t_low = np.float32(scale * second_low)
    t_high = np.float32(scale * second_high)
    return t_low if second_low > 0 else (t_high if second_high < 0 else np.float32(0.0))


@numba.njit(parallel=True, cache=True)
def signs(sx: np.ndarray, sy: np.ndarray, d: int, scale: float) -> np.ndarray:  # pragma: no cover
    """:func:`sign_at` of every sample, float32 ``(row, col, channel)``."""
    h, w, channels = sx.shape
    out = np.empty(sx.shape, np.float32)
    for row in numba.prange(h):
        y = np.int64(row)
        for x in range(w):
            for c in range(channels):
                out[y, x, c] = sign_at(sx, sy, d, y, x, c, scale)
    return out


@numba.njit(cache=True, inline="always")
def agree(z: np.float32, t: np.float32, consistent: np.float32) -> np.float32:  # pragma: no cover
    """Evidence that both the neighbourhood (``z``) and the photos one by one (``t``) give: where the photos
    agree in sign and consistently enough (``|t| >= consistent``), ``|z|`` or, when larger, the two tests
    combined (Stouffer), ``(|z| + |t|) / sqrt(2)``; else the smaller of the two (0 when the signs differ).
    Branch-free, as :func:`sign_at`."""
    size, sign = abs(z), abs(t)
    both = max(size, (size + sign) * np.float32(0.5**0.5))
    value = both if sign >= consistent else min(size, sign)
    same = ((z > 0) == (t > 0)) & ((z < 0) == (t < 0))  # np.sign(z) == np.sign(t)
    return value if same else np.float32(0.0)


@numba.njit(parallel=True, cache=True)
def agree_map(z: np.ndarray, t: np.ndarray, consistent: np.float32) -> np.ndarray:  # pragma: no cover
    """:func:`agree` of two maps of one shape, float32."""
    out = np.empty(z.shape, np.float32)
    zf, tf, of = z.reshape(-1), t.reshape(-1), out.reshape(-1)
    for i in numba.prange(zf.size):
        of[i] = agree(zf[i], tf[i], consistent)
    return out


@numba.njit(parallel=True, cache=True)
def best(
    z: np.ndarray,
    sx: np.ndarray,
    sy: np.ndarray,
    d: int,
    scale: float,
    consistent: np.float32,
    long_z: np.ndarray,
    long_loose: np.ndarray,
    min_score: np.float32,
    loose: bool,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """Every pixel's best score over its channels, float32 ``(row, col)``, and that channel, uint8.

    A sample's score is :func:`agree` of its z-score and its sign test, or the long exposures' ``|long_z|``
    when larger (``long_z`` of shape (1, 1, 1): none). With ``loose``, a sample scoring below ``min_score``
    is scored by its neighbourhood alone (``|z|``, or ``|long_loose|`` when larger), for per-photo
    evidence to judge."""
    h, w, channels = z.shape
    with_long = long_z.shape[0] == h
    flat = np.empty((h, w), np.float32)
    which = np.empty((h, w), np.uint8)
    for row in numba.prange(h):
        y = np.int64(row)
        scores = np.empty((channels, w), np.float32)
        for c in range(channels):  # channel by channel, so that the loop over the row vectorises
            out = scores[c]
            for x in range(w):
                out[x] = agree(z[y, x, c], sign_at(sx, sy, d, y, x, c, scale), consistent)
            if with_long:
                for x in range(w):
                    out[x] = max(out[x], abs(long_z[y, x, c]))
            if loose:
                for x in range(w):
                    if not out[x] >= min_score:
                        value = abs(z[y, x, c])
                        out[x] = max(value, abs(long_loose[y, x, c])) if with_long else value
        for x in range(w):
            top = scores[0, x]
            at = 0
            for c in range(1, channels):
                if scores[c, x] > top:
                    top = scores[c, x]
                    at = c
            flat[y, x] = top
            which[y, x] = at
    return flat, which


@numba.njit(parallel=True, cache=True)
def line_sums(sx: np.ndarray, sy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
    """The sign sums of every column of ``sx`` (over its rows), int64 ``(col, channel)``, and of every row of
    ``sy`` (over its columns), int64 ``(row, channel)``: one pass over each, in blocks of rows."""
    h, w, channels = sx.shape
    blocks = min(h, 64)
    partial = np.zeros((blocks, w, channels), np.int64)
    rows = np.zeros((h, channels), np.int64)
    for b in numba.prange(blocks):
        for y in range(b * h // blocks, (b + 1) * h // blocks):
            for x in range(w):
                for c in range(channels):
                    partial[b, x, c] += sx[y, x, c]
                    rows[y, c] += sy[y, x, c]
    return partial.sum(axis=0), rows
