"""Rank and classify suspicious pixels from a group's statistics.

Every pixel is compared with its same-colour neighbourhood, never with the whole frame: the eight
neighbours at distance ``d`` in rows, columns and diagonals (``d`` = the CFA period on a RAW mosaic, so
they share the pixel's colour filter; ``d`` = 2 on developed images, so the neighbours are outside the
smear of a JPEG/demosaiced defect). For the mean and for the standard deviation across photos we form

    z = (value - median of the 8 neighbours) / local robust scale

where the scale is 1.4826 x the median absolute residual over a tile of the same colour. A hot pixel has a
high mean z and a high spread z (its excess grows with exposure), a stuck or dead one a very negative
spread z at a white or black level, a partially stuck one a high mean z with an ordinary spread. A dark or
static scene area moves its neighbours too and scores nothing, unlike the 2011 script's raw variance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np

from .stats import State, finalize

TILE = 32  # samples of one colour per tile side for the local scale
MIN_SCORE = 6.0  # default threshold of a likely defect
KINDS = ("hot", "stuck", "dead", "partial", "dim", "noisy")


@dataclass(frozen=True)
class Levels:
    """Sensor levels of a group: RAW black/white in DN; developed images 0..2**bits-1."""

    black: float
    white: float

    @property
    def span(self) -> float:
        return max(self.white - self.black, 1.0)


@dataclass(frozen=True)
class Candidate:
    row: int
    col: int
    channel: str
    kind: str
    score: float
    n: int
    mean: float
    std: float
    z_mean: float
    z_std: float
    neighbour_mean: float
    neighbour_std: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@numba.njit(parallel=True, cache=True)
def neighbour_median(a: np.ndarray, d: int) -> np.ndarray:  # pragma: no cover
    """Median of the 8 neighbours at distance ``d`` of every sample of a 2-D array (mirrored at edges)."""
    h, w = a.shape
    out = np.empty_like(a)
    for y in numba.prange(h):
        buf = np.empty(8, a.dtype)
        yy = np.int64(y)
        up = yy - d if yy >= d else yy + d
        down = yy + d if yy + d < h else yy - d
        for x in range(w):
            left = x - d if x >= d else x + d
            right = x + d if x + d < w else x - d
            buf[0] = a[up, left]
            buf[1] = a[up, x]
            buf[2] = a[up, right]
            buf[3] = a[yy, left]
            buf[4] = a[yy, right]
            buf[5] = a[down, left]
            buf[6] = a[down, x]
            buf[7] = a[down, right]
            buf.sort()
            out[y, x] = 0.5 * (buf[3] + buf[4])
    return out


@numba.njit(parallel=True, cache=True)
def tile_scale(res: np.ndarray, period: int, tile: int, floor: float) -> np.ndarray:  # pragma: no cover
    """1.4826 x median |res| over tiles of ``tile`` x ``tile`` samples of one lattice (one CFA colour)."""
    h, w = res.shape
    out = np.empty_like(res)
    span = tile * period
    ty_n = (h + span - 1) // span
    tx_n = (w + span - 1) // span
    for t in numba.prange(ty_n * tx_n):
        y0 = (t // tx_n) * span
        x0 = (t % tx_n) * span
        y1 = min(y0 + span, h)
        x1 = min(x0 + span, w)
        for oy in range(period):
            for ox in range(period):
                ny = (y1 - y0 - oy + period - 1) // period
                nx = (x1 - x0 - ox + period - 1) // period
                if ny <= 0 or nx <= 0:
                    continue
                buf = np.empty(ny * nx, res.dtype)
                k = 0
                for y in range(y0 + oy, y1, period):
                    for x in range(x0 + ox, x1, period):
                        buf[k] = abs(res[y, x])
                        k += 1
                s = max(1.4826 * np.median(buf), floor)
                for y in range(y0 + oy, y1, period):
                    for x in range(x0 + ox, x1, period):
                        out[y, x] = s
    return out


def _zmap(values: np.ndarray, d: int, period: int, floor: float) -> tuple[np.ndarray, np.ndarray]:
    med = neighbour_median(values, d)
    res = values - med
    return res / tile_scale(res, period, TILE, floor), med


def channel_names(source: str, pattern: str | None, channels: int) -> str | None:
    if source == "raw":
        return None
    return "L" if channels == 1 else "RGB"[:channels]


def rank(state: State, *, source: str, pattern: str | None, levels: Levels, top: int = 20,
         min_score: float = MIN_SCORE) -> list[Candidate]:
    """The ``top`` most suspicious pixels of a group state, best first, one entry per defect.

    Parameters
    ----------
    state
        Group statistics, arrays ``(row, col, channel)`` in stored orientation.
    source
        ``"raw"`` (CFA mosaic, one channel; ``pattern`` gives the colours) or ``"rgb"`` (developed image).
    levels
        Black and white level, for telling stuck from dead.
    """
    if state.n < 2:
        return []
    mean, var = finalize(state)
    std = np.sqrt(var)
    period = round(len(pattern) ** 0.5) if source == "raw" and pattern else 1
    d = period if source == "raw" else 2
    # Scales never fall below what quantisation of the stored values allows.
    q = levels.span * 1e-4 if source == "raw" else 0.05
    z_m = np.empty_like(mean)
    z_s = np.empty_like(mean)
    med_m = np.empty_like(mean)
    med_s = np.empty_like(mean)
    for c in range(mean.shape[2]):
        z_m[..., c], med_m[..., c] = _zmap(mean[..., c], d, period, q)
        z_s[..., c], med_s[..., c] = _zmap(std[..., c], d, period, q)
    score = np.maximum(np.abs(z_m), np.abs(z_s))
    best_c = np.argmax(score, axis=2)
    flat = np.take_along_axis(score, best_c[..., None], axis=2)[..., 0].reshape(-1)
    above = np.flatnonzero(flat >= min_score)
    if above.size > max(50 * top, 2000):
        above = above[np.argpartition(flat[above], -max(50 * top, 2000))[-max(50 * top, 2000) :]]
    order = above[np.argsort(-flat[above], kind="stable")]
    radius = 0 if source == "raw" else 2
    names = channel_names(source, pattern, mean.shape[2])
    width = mean.shape[1]
    picked: list[Candidate] = []
    taken: list[tuple[int, int]] = []
    for idx in order:
        r, col = divmod(int(idx), width)
        if radius and any(abs(r - tr) <= radius and abs(col - tc) <= radius for tr, tc in taken):
            continue  # a smeared neighbour of a defect already reported
        c = int(best_c[r, col])
        letter = pattern[(r % period) * period + col % period] if names is None and pattern else (names or "?")[c]
        values = (mean[r, col, c], std[r, col, c], z_m[r, col, c], z_s[r, col, c], med_m[r, col, c], med_s[r, col, c])
        picked.append(
            Candidate(r, col, letter, classify(*values, levels=levels, source=source), float(flat[idx]), state.n,
                      *(float(v) for v in values))
        )
        taken.append((r, col))
        if len(picked) >= top:
            break
    return picked


def classify(mean: float, std: float, z_mean: float, z_std: float, nb_mean: float, nb_std: float, *,
             levels: Levels, source: str) -> str:
    """The defect class of one pixel from its statistics and its neighbourhood's."""
    level = (mean - levels.black) / levels.span
    frozen = std <= 0.25 * nb_std or z_std <= -6
    if frozen and level >= 0.9:
        return "stuck"
    if frozen and (level <= 0.02 or mean < 0.25 * (nb_mean - levels.black) + levels.black) and z_mean < 0:
        return "dead"
    if frozen and z_mean > 0:
        return "stuck"
    if z_mean > 0 and z_std > 3:
        return "hot"
    if z_mean > 0:
        return "partial"
    if z_mean < 0 and abs(z_mean) >= abs(z_std):
        return "dim"
    return "noisy" if z_std > 0 else "stuck"
