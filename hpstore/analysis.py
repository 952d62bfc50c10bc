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

from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import numba
import numpy as np

from .lines import Line, find_lines
from .stats import State, finalize

TILE = 32  # samples of one colour per tile side for the local scale
MIN_SCORE = 6.0  # default threshold of a likely defect
LOW_SPREAD, HIGH_SPREAD = 0.5, 1.25  # spread ratios to the neighbours' that count as evidence
RING = 7  # pixels: how far JPEG ringing reaches (within its 8x8 block)
SMEAR_RATIO = 0.3  # ringing scores below this share of its defect's score
KINDS = ("hot", "stuck", "dead", "partial", "dim", "noisy", "bad_column", "bad_row")


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
    """One reported defect. A bad line has ``row`` (kind ``bad_row``) or ``col`` (``bad_column``) None."""

    row: int | None
    col: int | None
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
    a: np.ndarray, y: int | np.integer[Any], x: int | np.integer[Any], dy: int, dx: int, d: int, buf: np.ndarray
) -> None:  # pragma: no cover
    """Fill ``buf`` with the 8 samples nearest to (y, x) at multiples of ``d`` along direction (dy, dx)."""
    h, w = a.shape
    k = 0
    step = 1
    while k < 8 and step < h + w:
        for sign in (-1, 1):
            yy = y + sign * step * d * dy
            xx = x + sign * step * d * dx
            if k < 8 and 0 <= yy < h and 0 <= xx < w:
                buf[k] = a[yy, xx]
                k += 1
        step += 1
    while k < 8:  # a line shorter than 9 samples: repeat the sample itself
        buf[k] = a[y, x]
        k += 1


@numba.njit(parallel=True, cache=True)
def neighbourhood(a: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """Compare every sample of a 2-D array with its 8 neighbours at distance ``d``.

    Samples closer than ``d`` to the border are compared with the 8 nearest samples of their colour along
    the border line instead: across it, an edge of the scene parallel to the border would fool them.

    Returns the neighbours' median, the residual ``a - clip(a, 3rd lowest, 3rd highest neighbour)`` and the
    neighbours' spread ``3rd highest - 3rd lowest``. The residual is zero for a sample that agrees with at
    least three neighbours on each side: the corner of a bright area or a line two samples wide is not an
    outlier, while a lone defect stands apart from all eight.
    """
    h, w = a.shape
    med = np.empty_like(a)
    res = np.empty_like(a)
    spread = np.empty_like(a)
    for y in numba.prange(h):
        buf = np.empty(8, a.dtype)
        yy = np.int64(y)
        up = yy - d
        down = yy + d
        for x in range(w):
            if up < 0 or down >= h:
                _along(a, yy, x, 0, 1, d, buf)
            elif x < d or x + d >= w:
                _along(a, yy, x, 1, 0, d, buf)
            else:
                buf[0] = a[up, x - d]
                buf[1] = a[up, x]
                buf[2] = a[up, x + d]
                buf[3] = a[yy, x - d]
                buf[4] = a[yy, x + d]
                buf[5] = a[down, x - d]
                buf[6] = a[down, x]
                buf[7] = a[down, x + d]
            _sort8(buf)
            v = a[yy, x]
            med[yy, x] = 0.5 * (buf[3] + buf[4])
            res[yy, x] = v - min(max(v, buf[2]), buf[5])
            spread[yy, x] = buf[5] - buf[2]
    return med, res, spread


@numba.njit(parallel=True, cache=True)
def tile_median(values: np.ndarray, period: int, tile: int) -> np.ndarray:  # pragma: no cover
    """Median of ``values`` over tiles of ``tile`` x ``tile`` samples of one lattice (one CFA colour)."""
    h, w = values.shape
    out = np.empty_like(values)
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
                buf = np.empty(ny * nx, values.dtype)
                k = 0
                for y in range(y0 + oy, y1, period):
                    for x in range(x0 + ox, x1, period):
                        buf[k] = values[y, x]
                        k += 1
                m = np.median(buf)
                for y in range(y0 + oy, y1, period):
                    for x in range(x0 + ox, x1, period):
                        out[y, x] = m
    return out


# For Gaussian noise of deviation s, the 3rd-lowest to 3rd-highest of 8 samples spans about 0.95 s.
_SPREAD_TO_SIGMA = 1.0 / 0.95


def _zmap(values: np.ndarray, d: int, period: int, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(z-score, neighbour median) of every sample of one channel, as float32 (ranking needs no more)."""
    med, res, spread = neighbourhood(np.ascontiguousarray(values), d)
    scale = np.maximum(tile_median(spread, period, TILE) * _SPREAD_TO_SIGMA, floor)
    return (res / scale).astype(np.float32), med.astype(np.float32)


def channel_names(source: str, pattern: str | None, channels: int) -> str | None:
    if source == "raw":
        return None
    return "L" if channels == 1 else "RGB"[:channels]


@dataclass(frozen=True)
class Evidence:
    """Per-sample evidence maps ``(row, col, channel)``: values, neighbourhood medians, z-scores, score."""

    mean: np.ndarray
    std: np.ndarray
    z_mean: np.ndarray
    z_std: np.ndarray
    nb_mean: np.ndarray
    nb_std: np.ndarray
    score: np.ndarray


def geometry(source: str, pattern: str | None) -> tuple[int, int]:
    """(CFA period, neighbour distance): same-colour neighbours on RAW, outside the smear on RGB."""
    period = round(len(pattern) ** 0.5) if source == "raw" and pattern else 1
    return period, (period if source == "raw" else 2)


def scale_floor(source: str, levels: Levels) -> float:
    """The smallest noise scale: what quantisation of the stored values allows."""
    return levels.span * 1e-4 if source == "raw" else 0.05


def evidence(mean: np.ndarray, std: np.ndarray, *, source: str, pattern: str | None, levels: Levels) -> Evidence:
    """Compare every sample's mean and standard deviation with its same-colour neighbourhood."""
    period, d = geometry(source, pattern)
    q = scale_floor(source, levels)
    z_m, z_s, med_m, med_s = (np.empty(mean.shape, np.float32) for _ in range(4))
    for c in range(mean.shape[2]):
        z_m[..., c], med_m[..., c] = _zmap(mean[..., c], d, period, q)
        z_s[..., c], med_s[..., c] = _zmap(std[..., c], d, period, q)
    # A spread that differs only statistically, not materially, is no defect: JPEG blocks give the spread
    # z-scores heavy tails. Spread evidence counts from 1/2 or 5/4 of the neighbours' spread on.
    ratio = (std / np.maximum(med_s, q)).astype(np.float32)
    weak = ((z_s < 0) & (ratio > LOW_SPREAD)) | ((z_s > 0) & (ratio < HIGH_SPREAD))
    score = np.maximum(np.abs(z_m), np.where(weak, np.float32(0), np.abs(z_s)))
    return Evidence(mean, std, z_m, z_s, med_m, med_s, score)


def _candidate(
    ev: Evidence, r: int, col: int, c: int, n: int, *, source: str, pattern: str | None, levels: Levels
) -> Candidate:
    period, _ = geometry(source, pattern)
    names = channel_names(source, pattern, ev.mean.shape[2])
    letter = pattern[(r % period) * period + col % period] if names is None and pattern else (names or "?")[c]
    values = tuple(float(a[r, col, c]) for a in (ev.mean, ev.std, ev.z_mean, ev.z_std, ev.nb_mean, ev.nb_std))
    kind = classify(*values, levels=levels, source=source)
    return Candidate(r, col, letter, kind, float(ev.score[r, col, c]), n, *values)


def rank(
    state: State,
    *,
    source: str,
    pattern: str | None,
    levels: Levels,
    top: int = 20,
    min_score: float = MIN_SCORE,
    kinds: Collection[str] | None = None,
) -> list[Candidate]:
    """The ``top`` most suspicious pixels of a group state, best first, one entry per defect.

    Parameters
    ----------
    state
        Group statistics, arrays ``(row, col, channel)`` in stored orientation.
    source
        ``"raw"`` (CFA mosaic, one channel; ``pattern`` gives the colours) or ``"rgb"`` (developed image).
    levels
        Black and white level, for telling stuck from dead.
    kinds
        Only defects of these classes (the others still suppress their own smear).
    """
    if state.n < 2:
        return []
    mean, var = finalize(state)
    ev = evidence(mean, np.sqrt(var, out=var), source=source, pattern=pattern, levels=levels)
    radius = 0 if source == "raw" else 2
    period, d = geometry(source, pattern)
    bad = find_lines(ev.mean, period=period, d=d, floor=scale_floor(source, levels), radius=radius)
    picked: list[Candidate] = [
        _line_candidate(ev, line, state.n, source=source, pattern=pattern)
        for line in bad
        if kinds is None or f"bad_{line.axis}" in kinds
    ][:top]
    on_line = np.zeros(ev.mean.shape[:2], bool)  # pixels of a bad line are reported with their line
    for line in bad:
        lo, hi = max(0, line.index - radius), line.index + radius + 1
        if line.axis == "column":
            on_line[:, lo:hi] = True
        else:
            on_line[lo:hi, :] = True
    best_c = np.argmax(ev.score, axis=2)
    flat = np.take_along_axis(ev.score, best_c[..., None], axis=2)[..., 0].reshape(-1)
    above = np.flatnonzero((flat >= min_score) & ~on_line.reshape(-1))
    keep = max(50 * top, 2000)
    if above.size > keep:
        above = above[np.argpartition(flat[above], -keep)[-keep:]]
    order = above[np.argsort(-flat[above], kind="stable")]
    # JPEG and demosaicing smear a defect over its neighbours (always suppressed within ``radius``) and
    # ring up to a block away (suppressed within ``RING`` only when far weaker than the defect itself,
    # so two real defects side by side both stay).
    width = ev.mean.shape[1]
    taken: list[tuple[int, int, float]] = []
    for idx in order if len(picked) < top else ():
        r, col = divmod(int(idx), width)
        if radius and any(
            reach <= RING and (reach <= radius or flat[idx] < SMEAR_RATIO * ts)
            for tr, tc, ts in taken
            for reach in (max(abs(r - tr), abs(col - tc)),)
        ):
            continue  # the smear or ringing of a defect already reported
        cand = _candidate(ev, r, col, int(best_c[r, col]), state.n, source=source, pattern=pattern, levels=levels)
        taken.append((r, col, cand.score))
        if kinds is None or cand.kind in kinds:
            picked.append(cand)
            if len(picked) >= top:
                break
    return picked


def _line_candidate(ev: Evidence, line: Line, n: int, *, source: str, pattern: str | None) -> Candidate:
    """A bad line as one entry: its mean and spread along the line, the neighbouring lines' level."""
    names = channel_names(source, pattern, ev.mean.shape[2])
    column = line.axis == "column"
    along = ev.mean[:, line.index, line.channel] if column else ev.mean[line.index, :, line.channel]
    spread = ev.std[:, line.index, line.channel] if column else ev.std[line.index, :, line.channel]
    mean, std = float(np.mean(along)), float(np.mean(spread))
    return Candidate(
        None if column else line.index,
        line.index if column else None,
        names[line.channel] if names else "*",
        f"bad_{line.axis}",
        line.score,
        n,
        mean,
        std,
        line.score if line.offset > 0 else -line.score,
        0.0,
        mean - line.offset,
        std,
    )


def explain(
    ev: Evidence, r: int, col: int, n: int, *, source: str, pattern: str | None, levels: Levels
) -> list[dict[str, object]]:
    """One pixel's statistics next to its neighbourhood's, per channel, with its class and why."""
    out = []
    for c in range(ev.mean.shape[2]):
        cand = _candidate(ev, r, col, c, n, source=source, pattern=pattern, levels=levels)
        out.append({**cand.as_dict(), "likely_defect": cand.score >= MIN_SCORE, "why": reason(cand)})
    return out


def reason(c: Candidate) -> str:
    """A sentence a user can read: how the pixel compares with its neighbours, and what that means."""
    spread = c.std / c.neighbour_std if c.neighbour_std > 0 else float("inf")
    facts = (
        f"mean {c.mean:.4g} vs {c.neighbour_mean:.4g} around it (z {c.z_mean:+.1f}), "
        f"spread {c.std:.4g} vs {c.neighbour_std:.4g} (x{spread:.2f}, z {c.z_std:+.1f}) over {c.n} photos"
    )
    if c.score < MIN_SCORE:
        return f"{facts}: within what its neighbourhood shows (score {c.score:.1f} < {MIN_SCORE:g})"
    meaning = {
        "hot": "brighter than its neighbours, and varying more: dark signal that grows with exposure"
        if c.z_std > 0
        else "brighter than its neighbours (a developed image's clipping hides how it grows with exposure)",
        "stuck": "bright and nearly frozen while its neighbours vary",
        "dead": "dark and nearly frozen while its neighbours vary",
        "partial": "a fixed offset above its neighbours, varying like them",
        "dim": "darker than its neighbours but still following the scene",
        "noisy": "varies far more than its neighbours at a normal level",
        "bad_column": "its whole column is offset from the neighbouring columns",
        "bad_row": "its whole row is offset from the neighbouring rows",
    }[c.kind]
    return f"{facts}: {meaning}"


def classify(
    mean: float,
    std: float,
    z_mean: float,
    z_std: float,
    nb_mean: float,
    nb_std: float,
    *,
    levels: Levels,
    source: str,
) -> str:
    """The defect class of one pixel from its statistics and its neighbourhood's.

    On developed images clipping and tone curves hide how a defect varies with exposure, so a bright
    pixel that is not frozen counts as hot there; RAW data tells hot (spread grows) from partial (offset).
    """
    frozen = std <= 0.3 * nb_std
    if z_mean > 0:
        if frozen:
            return "stuck"
        if z_std > 3 or source == "rgb":
            return "hot"
        return "partial"
    if z_mean < 0 and (frozen or z_std < 0):
        return "dead"
    if z_mean < 0 and abs(z_mean) >= abs(z_std):
        return "dim"
    return "noisy" if z_std > 0 else "stuck"
