"""Rank and classify suspicious pixels from a group's statistics.

Every pixel is compared with its same-colour neighbourhood, never with the whole frame: the eight
neighbours at distance ``d`` in rows, columns and diagonals (``d`` = the CFA step on a RAW mosaic, so
they share the pixel's colour filter; ``d`` = 2 on developed images, so the neighbours are outside the
smear of a JPEG/demosaiced defect). For the mean and for the standard deviation across photos we form

    z = (value - median of the 8 neighbours) / local robust scale

where the scale is 1.4826 x the median absolute residual over a tile of the same colour. A hot pixel has a
high mean z and a high spread z (its excess grows with exposure), a stuck or dead one a very negative
spread z at a white or black level, a partially stuck one a high mean z with an ordinary spread. A dark or
static scene area moves its neighbours too and scores nothing, unlike the 2011 script's raw variance.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numba
import numpy as np

from hpstore.detect.cfa import TILE, Layout
from hpstore.detect.classes import KINDS, MIN_SCORE, Candidate, Levels, Response, classify, confidence, reason
from hpstore.detect.lines import Line, find_lines
from hpstore.stats import Pairs, State, finalize
from hpstore.timeaxis.exposure import LONG, SHORT, ClassMean

__all__ = ["KINDS", "MIN_SCORE", "Candidate", "ClassMean", "Levels", "evidence", "explain", "rank", "reason"]

LOW_SPREAD, HIGH_SPREAD = 0.5, 1.25  # spread ratios to the neighbours' that count as evidence
RING = 15  # pixels: how far JPEG ringing reaches (a 16 x 16 block of subsampled chroma)
SMEAR_RATIO = 0.3  # ringing scores below this share of its defect's score
LEAK_RATIO = 0.6  # the smear of a defect in another channel (JPEG chroma subsampling) scores less
# A point of light in the scene (a star on a tracking mount) lights its neighbours too; a defect is one
# photosite. A candidate is extended when this many of its 8 surrounding samples (adjacent photosites on
# RAW; 2 px away on developed images, beyond a demosaiced defect's smear) share this much of its excess.
# On RAW a lit neighbour must also stand out from its own neighbours (z >= EXTENDED_Z, or 0.3 x the
# candidate's z for weak ones), so that noise around a weak defect does not count.
EXTENDED_SHARE = {"raw": 0.12, "rgb": 0.3}
EXTENDED_COUNT = {"raw": 2, "rgb": 3}
EXTENDED_Z = 3.0
# On a developed image a defect is one colour filter's photosite: its excess is strongest in that channel
# (other channels get a demosaicing and chroma-subsampling share of 0.3-0.8). Light from the scene that
# is this close to white in all three channels (a star, a lamp) is not a defect.
WHITE_RATIO = 0.9
LONG_SHARE = 0.15  # in the long exposures' mean (little noise), a lit neighbour holds this share
MIN_LONG = 3  # long exposures needed before their own z-score counts
CONSISTENT = 3.0  # sign-test score from which a difference counts as shown by the photos, not by a few


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
def _tile_z(
    res: np.ndarray, spread: np.ndarray, step: int, tile: int, k: float, floor: float
) -> np.ndarray:  # pragma: no cover
    """``res / max(k x tile median of spread, floor)`` as float32, the median taken over tiles of ``tile`` x
    ``tile`` samples of one lattice (one CFA colour): the local noise scale of every sample."""
    h, w = spread.shape
    out = np.empty((h, w), np.float32)
    span = tile * step
    ty_n = (h + span - 1) // span
    tx_n = (w + span - 1) // span
    for t in numba.prange(ty_n * tx_n):
        y0 = (t // tx_n) * span
        x0 = (t % tx_n) * span
        y1 = min(y0 + span, h)
        x1 = min(x0 + span, w)
        for oy in range(step):
            for ox in range(step):
                ny = (y1 - y0 - oy + step - 1) // step
                nx = (x1 - x0 - ox + step - 1) // step
                if ny <= 0 or nx <= 0:
                    continue
                buf = np.empty(ny * nx, spread.dtype)
                k_ = 0
                for y in range(y0 + oy, y1, step):
                    for x in range(x0 + ox, x1, step):
                        buf[k_] = spread[y, x]
                        k_ += 1
                scale = max(np.median(buf) * k, floor)
                for y in range(y0 + oy, y1, step):
                    for x in range(x0 + ox, x1, step):
                        out[y, x] = res[y, x] / scale
    return out


# For Gaussian noise of deviation s, the 3rd-lowest to 3rd-highest of 8 samples spans about 0.95 s.
_SPREAD_TO_SIGMA = 1.0 / 0.95


def _zmap(values: np.ndarray, d: int, step: int, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(z-score, neighbour median) of every sample of one channel, as float32 (ranking needs no more). The
    channel may be a strided view of a (row, col, channel) array: no copy is made."""
    med, res, spread = neighbourhood(values, d)
    return _tile_z(res, spread, step, TILE, _SPREAD_TO_SIGMA, floor), med.astype(np.float32)


@dataclass(frozen=True)
class Evidence:
    """Per-sample evidence maps ``(row, col, channel)``: values, neighbourhood medians, z-scores, score;
    ``t`` the paired consistency across photos (:func:`consistency`), None for a state without pairs."""

    mean: np.ndarray
    std: np.ndarray
    z_mean: np.ndarray
    z_std: np.ndarray
    nb_mean: np.ndarray
    nb_std: np.ndarray
    score: np.ndarray
    t: np.ndarray | None = None


def consistency(pairs: Pairs, n: int) -> np.ndarray:
    """How consistently every sample lies above (or below) its four partners (``pairs.d`` away in its row
    and column) from photo to photo: a sign test, float32 ``(row, col, channel)``.

    For a partner u, ``sqrt(n) x mean sign(v - u)`` is about normal with deviation 1 when v and u differ by
    noise and scene alone, whatever the scenes' contrast: each photo counts once, an edge no more than a
    flat wall. A defect lies on its side in nearly every photo that can show it (``sqrt(n)`` for all of
    them), a scene's texture or highlight only in the photos that show it (about ``sqrt(k)`` for k of
    them), a pixel merely steadier than its neighbours in half of them. The score is the second weakest of
    the four when three share a sign (one partner may share a JPEG defect's smear), else 0.
    """
    return _signs(pairs.x, pairs.y, pairs.d, 1.0 / np.sqrt(max(n, 1)))


@numba.njit(parallel=True, cache=True)
def _signs(sx: np.ndarray, sy: np.ndarray, d: int, scale: float) -> np.ndarray:  # pragma: no cover
    h, w, channels = sx.shape
    out = np.empty(sx.shape, np.float32)
    for row in numba.prange(h):
        y = np.int64(row)
        up = y - d if y >= d else y  # the pair (partner above, sample) is kept at the partner
        flip_up = np.int32(-1) if y >= d else np.int32(1)
        for x in range(w):
            left = x - d if x >= d else x
            flip_left = np.int32(-1) if x >= d else np.int32(1)
            for c in range(channels):
                a = sx[y, x, c]
                b = flip_left * sx[y, left, c]
                e = sy[y, x, c]
                f = flip_up * sy[up, x, c]
                # the middle two of four: sort the pairs, then the second lowest and the second highest
                lo1, hi1 = min(a, b), max(a, b)
                lo2, hi2 = min(e, f), max(e, f)
                second_low = min(max(lo1, lo2), min(hi1, hi2))
                second_high = max(max(lo1, lo2), min(hi1, hi2))
                if second_low > 0:
                    out[y, x, c] = scale * second_low
                elif second_high < 0:
                    out[y, x, c] = scale * second_high
                else:
                    out[y, x, c] = 0.0
    return out


def _agreeing(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Evidence that both the neighbourhood (``z``) and the photos one by one (``t``) give: where the photos
    agree in sign and consistently enough (``|t| >= CONSISTENT``), ``|z|`` or, when larger, the two tests
    combined, ``(|z| + |t|) / sqrt(2)``; else the smaller of the two (0 when the signs differ)."""
    out = np.empty(z.shape, np.float32)
    _agree_into(z.reshape(-1), t.reshape(-1), out.reshape(-1), np.float32(CONSISTENT))
    return out


@numba.njit(parallel=True, cache=True)
def _agree_into(z: np.ndarray, t: np.ndarray, out: np.ndarray, consistent: np.float32) -> None:  # pragma: no cover
    # One pass over the maps (numpy's version made five temporaries of the state's size).
    half = np.float32(0.5**0.5)
    for i in numba.prange(z.size):
        size, sign = abs(z[i]), abs(t[i])
        if np.sign(z[i]) != np.sign(t[i]):
            out[i] = 0.0
        elif sign >= consistent:
            # Two tests that agree add up (Stouffer): a weak offset shown by nearly every photo counts
            out[i] = max(size, (size + sign) * half)
        else:
            out[i] = min(size, sign)


def evidence(
    mean: np.ndarray,
    std: np.ndarray,
    *,
    layout: Layout,
    pairs: Pairs | None = None,
    n: int = 0,
) -> Evidence:
    """Compare every sample's mean and standard deviation with its same-colour neighbourhood; with the
    state's ``pairs`` (of ``n`` photos), count only what the photos show consistently (:func:`consistency`):
    a mean apart from the neighbours' in every photo, a spread far above theirs."""
    step, d, q = layout.step, layout.distance, layout.floor
    z_m, z_s, med_m, med_s = (np.empty(mean.shape, np.float32) for _ in range(4))
    for c in range(mean.shape[2]):
        z_m[..., c], med_m[..., c] = _zmap(mean[..., c], d, step, q)
        z_s[..., c], med_s[..., c] = _zmap(std[..., c], d, step, q)
    if pairs is None:
        # A spread that differs only statistically, not materially, is no defect: JPEG blocks give the spread
        # z-scores heavy tails. Spread evidence counts from 1/2 or 5/4 of the neighbours' spread on.
        ratio = (std / np.maximum(med_s, q)).astype(np.float32)
        weak = ((z_s < 0) & (ratio > LOW_SPREAD)) | ((z_s > 0) & (ratio < HIGH_SPREAD))
        score = np.maximum(np.abs(z_m), np.where(weak, np.float32(0), np.abs(z_s)))
        return Evidence(mean, std, z_m, z_s, med_m, med_s, score)
    t = consistency(pairs, n)
    # Only a mean that sits apart in nearly every photo counts. A frozen pixel (stuck, dead) sits apart too.
    # A spread above the neighbours' alone is no evidence: second moments cannot tell a pixel that varies in
    # every photo from one that a single scene's texture lit once.
    return Evidence(mean, std, z_m, z_s, med_m, med_s, _agreeing(z_m, t), t)


def _long_class(classes: Sequence[ClassMean]) -> ClassMean | None:
    """The long exposures, when the store keeps them apart from others and has enough of them."""
    long = next((k for k in classes if k.name == LONG), None)
    return long if long is not None and long.n >= MIN_LONG and len(classes) > 1 else None


@dataclass(frozen=True)
class LongMaps:
    """The long exposures' own evidence, every sample: dark current stands out there, undiluted by
    daylight frames."""

    z: np.ndarray  # z-score of the mean, as far as the long exposures confirm it one by one (signed)
    loose: np.ndarray  # z-score of the mean by the neighbourhood alone
    t: np.ndarray | None  # their sign test (:func:`consistency`); None for stores without pairs


def long_maps(classes: Sequence[ClassMean], *, layout: Layout) -> LongMaps | None:
    """The long exposures' evidence, when the store keeps them apart; None without enough of them."""
    long = _long_class(classes)
    if long is None:
        return None
    z = np.empty(long.mean.shape, np.float32)
    for c in range(long.mean.shape[2]):
        z[..., c], _ = _zmap(long.mean[..., c], layout.distance, layout.step, layout.floor)
    if long.pairs is None:
        return LongMaps(z, z, None)
    t = consistency(long.pairs, long.n)
    return LongMaps(np.copysign(_agreeing(z, t), z).astype(np.float32), z, t)


def _scores(ev: Evidence, maps: LongMaps | None, min_score: float | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Every sample's score and, given ``min_score``, where its photos confirm it one by one (None without
    it, or for stores without pairs). Candidates the photos do not confirm are then scored by the
    neighbourhood alone, for per-photo evidence to judge (``unconfirmed``: a defect that appeared late, a
    dark one seen in few long exposures)."""
    score = ev.score if maps is None else np.maximum(ev.score, np.abs(maps.z))
    if ev.t is None or min_score is None:
        return score, None
    confirmed = score >= min_score
    loose = np.abs(ev.z_mean) if maps is None else np.maximum(np.abs(ev.z_mean), np.abs(maps.loose))
    return np.where(confirmed, score, loose), confirmed


def _around(r: int, col: int, step: int, shape: tuple[int, ...]) -> list[tuple[int, int]]:
    """The (up to 8) positions ``step`` away from (r, col) in rows, columns and diagonals, inside ``shape``."""
    h, w = shape[0], shape[1]
    return [
        (r + dy * step, col + dx * step)
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
        if (dy or dx) and 0 <= r + dy * step < h and 0 <= col + dx * step < w
    ]


def _over_median(plane: np.ndarray, r: int, col: int, d: int, linear: Any) -> tuple[float, float]:
    """(excess over the median of the sample's 8 same-colour neighbours, that median), in linear units."""
    level = float(linear(np.median([plane[y, x] for y, x in _around(r, col, d, plane.shape)])))
    return float(linear(plane[r, col])) - level, level


def _clipped_mean(rate: float, weights: np.ndarray, room: float) -> float:
    return float(np.mean(np.minimum(rate * weights, room)))


def fit_response(
    e_short: float,
    e_long: float,
    w_short: np.ndarray,
    w_long: np.ndarray,
    headroom: float,
    g_short: float = 1.0,
    g_long: float = 1.0,
) -> tuple[float, float]:
    """(rate, offset) with ``excess = offset x gain + mean(min(rate x w, headroom))`` in both classes, for
    mean ISO gains (ISO / 100) ``g_short``/``g_long`` and dark weights ``w`` (gain x exposure time).

    The sensor's model (Leung, Chapman, Koren and Dudas): a pixel reads gain x (photo signal x t + dark
    current x t + b), so a partially stuck pixel's offset b grows with ISO whatever the exposure time, and a
    hot pixel's dark current with ISO x time. Fitting both against their own regressor tells them apart
    even where long exposures are also high-ISO ones. When the two classes differ in gain alone (no
    exposure time to tell them apart) the offset is taken as fixed. Dark current clips at the white level
    in the longest exposures; a plain solution would underrate a hot pixel by a factor of three. Solved by
    bisection on the rate, alternating with the offset (the short class barely clips)."""
    m_short, m_long = float(np.mean(w_short)), float(np.mean(w_long))
    det = g_short * m_long - g_long * m_short
    if det <= 0.05 * g_short * m_long:
        g_short = g_long = 1.0  # the classes differ in gain, not in time: gain and offset cannot be told apart
        det = m_long - m_short
    rate = (g_short * e_long - g_long * e_short) / det
    offset = (e_short * m_long - e_long * m_short) / det
    if rate <= 0:
        return rate, offset
    for _ in range(6):
        room = max(headroom - max(offset * g_long, 0.0), 1e-9)
        target = min(e_long - offset * g_long, 0.999 * room)
        if target <= 0:
            return 0.0, offset
        lo, hi = 0.0, max(rate, 1e-9)
        while _clipped_mean(hi, w_long, room) < target and hi < 1e12:
            hi *= 2
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if _clipped_mean(mid, w_long, room) < target else (lo, mid)
        rate = hi
        offset = (e_short - _clipped_mean(rate, w_short, headroom)) / g_short
    return rate, offset


def response(classes: Sequence[ClassMean], r: int, col: int, c: int, *, layout: Layout) -> Response | None:
    """Fit ``excess = offset x gain + rate x dark weight`` through the short and the long class at one
    sample (:func:`fit_response`).

    Developed images are linearised first (gamma 2.2, as sRGB nearly is), so that dark current adds up."""
    by_name = {k.name: k for k in classes}
    short, long = by_name.get(SHORT), by_name.get(LONG)
    if short is None or long is None or short.n < 2 or long.n < MIN_LONG:
        return None
    if short.weight is None or long.weight is None or long.weight <= short.weight:
        return None
    d, white = layout.distance, layout.levels.white

    def linear(x: float) -> float:
        return float(x) if layout.raw else white * (max(float(x), 0.0) / white) ** 2.2

    e_short, _ = _over_median(short.mean[..., c], r, col, d, linear)
    e_long, level = _over_median(long.mean[..., c], r, col, d, linear)
    gains = (short.gain, long.gain)
    rate, offset = fit_response(e_short, e_long, short.weights, long.weights, white - level, *gains)
    return Response(rate, offset, long.weight, long.n, long.gain)


def class_facts(
    classes: Sequence[ClassMean],
    states: Sequence[State],
    r: int,
    col: int,
    c: int,
    *,
    layout: Layout,
) -> list[dict[str, object]]:
    """One sample per exposure class: photos, mean dark weight, mean and spread next to the neighbours'."""
    d = layout.distance
    out: list[dict[str, object]] = []
    for k, st in zip(classes, states, strict=True):
        std = np.sqrt(st.m2[..., c] / st.n)
        excess, _ = _over_median(k.mean[..., c], r, col, d, float)
        out.append(
            {
                "exposure": k.name,
                "n": k.n,
                "dark_weight": k.weight,
                "mean": float(k.mean[r, col, c]),
                "neighbour_mean": float(k.mean[r, col, c]) - excess,
                "std": float(std[r, col]),
                "neighbour_std": float(std[r, col] - _over_median(std, r, col, d, float)[0]),
            }
        )
    return out


def _extended(ev: Evidence, r: int, col: int, c: int, layout: Layout, long: ClassMean | None = None) -> bool:
    """True when the candidate is light from the scene, not a single photosite: its surroundings share its
    excess (over all photos, or over the long exposures where stars are), or on a developed image it is
    white."""
    raw, source, d = layout.raw, layout.source, layout.distance
    centre = float(ev.mean[r, col, c] - ev.nb_mean[r, col, c])
    if not raw and centre > 0 and ev.mean.shape[2] == 3:
        excess = ev.mean[r, col] - ev.nb_mean[r, col]
        if float(excess.min()) >= WHITE_RATIO * float(excess.max()):
            return True
    around = _around(r, col, 1 if raw else 2, ev.mean.shape)
    z_floor = min(EXTENDED_Z, 0.3 * abs(float(ev.z_mean[r, col, c])))
    share, lit = EXTENDED_SHARE[source] * abs(centre), 0
    for y, x in around:
        excess_yx = float(ev.mean[y, x, c] - ev.nb_mean[y, x, c]) * np.sign(centre)
        lit += excess_yx >= share and (not raw or float(ev.z_mean[y, x, c]) * np.sign(centre) >= z_floor)
    if centre != 0 and lit >= EXTENDED_COUNT[source]:
        return True
    if raw and long is not None:
        plane = long.mean[..., c]
        peak, _ = _over_median(plane, r, col, d, float)
        if peak > 0:
            lit = sum(_over_median(plane, y, x, d, float)[0] >= LONG_SHARE * peak for y, x in around)
            return lit >= EXTENDED_COUNT[source]
    return False


def _candidate(
    ev: Evidence,
    r: int,
    col: int,
    c: int,
    n: int,
    *,
    layout: Layout,
    score: float | None = None,
    maps: LongMaps | None = None,
    classes: Sequence[ClassMean] = (),
) -> Candidate:
    letter = layout.channel(r, col, c, ev.mean.shape[2])
    values = tuple(float(a[r, col, c]) for a in (ev.mean, ev.std, ev.z_mean, ev.z_std, ev.nb_mean, ev.nb_std))
    fit = response(classes, r, col, c, layout=layout)
    kind = classify(*values, levels=layout.levels, source=layout.source, response=fit)
    value = float(ev.score[r, col, c]) if score is None else score
    n_long = next((k.n for k in classes if k.name == LONG), None)
    mean, std, z_mean, z_std, nb_mean, nb_std = values
    signs = [float(t[r, col, c]) for t in (ev.t, None if maps is None else maps.t) if t is not None]
    sign = max(signs, key=abs) if signs else None
    return Candidate(
        r,
        col,
        letter,
        kind,
        value,
        n,
        mean,
        std,
        z_mean,
        z_std,
        nb_mean,
        nb_std,
        confidence=confidence(kind, value, n, n_long, sign),
        z_long=None if maps is None else float(maps.z[r, col, c]),
        n_long=n_long,
        dark_rate=None if fit is None else fit.rate,
        offset=None if fit is None else fit.offset,
        consistency=sign,
    )


def rank(
    state: State,
    *,
    layout: Layout,
    top: int = 20,
    min_score: float = MIN_SCORE,
    kinds: Collection[str] | None = None,
    classes: Sequence[ClassMean] = (),
    keep_extended: bool = False,
) -> list[Candidate]:
    """The ``top`` most suspicious pixels of a group state, best first, one entry per defect.

    Parameters
    ----------
    state
        Statistics of all the camera's photos of one source and image size, arrays ``(row, col, channel)`` in
        stored orientation.
    layout
        Its source (RAW mosaic and colour pattern, or developed image) and black and white levels.
    kinds
        Only defects of these classes (the others still suppress their own smear).
    classes
        The means of the exposure classes ``state`` merges, when the store keeps them apart: a pixel scores
        its long-exposure z-score too, and its class comes from how its excess grows with exposure.
    keep_extended
        List candidates whose neighbours share their excess (light in the scene, by the means alone) too,
        marked ``extended``, for per-photo evidence to judge; by default they are left out.
    """
    if state.n < 2:
        return []
    mean, var = finalize(state)
    ev = evidence(mean, np.sqrt(var, out=var), layout=layout, pairs=state.pairs, n=state.n)
    maps = long_maps(classes, layout=layout)
    score, confirmed = _scores(ev, maps, min_score if keep_extended else None)
    radius = 0 if layout.raw else 2
    step, d, floor = layout.step, layout.distance, layout.floor
    bad = find_lines(ev.mean, step=step, d=d, floor=floor, radius=radius, pairs=state.pairs, n=state.n)
    long = _long_class(classes)
    if long is not None:
        # Night frames have little scene texture: a weak bad line stands out better there.
        found = find_lines(long.mean, step=step, d=d, floor=floor, radius=radius, pairs=long.pairs, n=long.n)
    else:
        found = []
    bad = _union(bad, found, max(radius, d), RING if radius else 0)
    picked: list[Candidate] = [
        _line_candidate(ev, line, state.n, layout=layout)
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
    best_c = np.argmax(score, axis=2)
    flat = np.take_along_axis(score, best_c[..., None], axis=2)[..., 0].reshape(-1)
    above = np.flatnonzero((flat >= min_score) & ~on_line.reshape(-1))
    keep = max(50 * top, 2000)
    if above.size > keep:
        above = above[np.argpartition(flat[above], -keep)[-keep:]]
    order = above[np.argsort(-flat[above], kind="stable")]
    # JPEG and demosaicing smear a defect over its neighbours and ring up to a block away. Within
    # ``radius`` a weaker candidate is suppressed when its strongest channel is the defect's or it holds
    # less than ``LEAK_RATIO`` of the defect's score (another defect side by side is kept); up to ``RING``
    # px only when far weaker.
    width = ev.mean.shape[1]
    taken: list[tuple[int, int, float, int]] = []
    doubtful = 0  # unconfirmed candidates listed: the strongest ``top`` are judged, the rest left out
    for idx in order if len(picked) < top else ():
        r, col = divmod(int(idx), width)
        c = int(best_c[r, col])
        value = float(flat[idx])
        if radius and any(
            reach <= RING
            and ((reach <= radius and (tch == c or value < LEAK_RATIO * ts)) or value < SMEAR_RATIO * ts)
            for tr, tc, ts, tch in taken
            for reach in (max(abs(r - tr), abs(col - tc)),)
        ):
            continue  # the smear, leak or ringing of a defect already reported
        extended = _extended(ev, r, col, c, layout, long)
        unconfirmed = confirmed is not None and not confirmed[r, col, c]
        if unconfirmed and doubtful >= top:
            taken.append((r, col, value, c))  # enough of them for the per-photo evidence to judge
            continue
        doubtful += unconfirmed
        if extended and not keep_extended:
            taken.append((r, col, value, c))  # a point of light in the scene: it suppresses its own smear
            continue
        cand = _candidate(ev, r, col, c, state.n, layout=layout, score=value, maps=maps, classes=classes)
        if extended or unconfirmed:
            sure = confidence(cand.kind, cand.score, cand.n, cand.n_long, cand.consistency, unconfirmed)
            cand = replace(cand, extended=extended, unconfirmed=unconfirmed, confidence=sure)
        taken.append((r, col, cand.score, c))
        if kinds is None or cand.kind in kinds:
            picked.append(cand)
            marked = sum(p.extended or p.unconfirmed for p in picked)
            if len(picked) - marked >= top:  # marked ones do not use up ``top``
                break
    return picked


def _union(a: list[Line], b: list[Line], reach: int, ring: int) -> list[Line]:
    """Lines found in either map, once each: the strongest of those within ``reach`` on one axis; up to
    ``ring`` away, a far weaker one is the JPEG ringing of a stronger line."""
    kept: list[Line] = []
    for line in sorted((*a, *b), key=lambda item: -item.score):
        if all(
            other.axis != line.axis
            or abs(other.index - line.index) > ring
            or (abs(other.index - line.index) > reach and line.score >= SMEAR_RATIO * other.score)
            for other in kept
        ):
            kept.append(line)
    return kept


def _line_candidate(ev: Evidence, line: Line, n: int, *, layout: Layout) -> Candidate:
    """A bad line as one entry: its mean and spread along the line, the neighbouring lines' level."""
    channels = ev.mean.shape[2]
    column = line.axis == "column"
    along = ev.mean[:, line.index, line.channel] if column else ev.mean[line.index, :, line.channel]
    spread = ev.std[:, line.index, line.channel] if column else ev.std[line.index, :, line.channel]
    mean, std = float(np.mean(along)), float(np.mean(spread))
    kind = f"bad_{line.axis}"
    return Candidate(
        None if column else line.index,
        line.index if column else None,
        "*" if layout.raw else layout.channel(0, 0, line.channel, channels),
        kind,
        line.score,
        n,
        mean,
        std,
        line.score if line.offset > 0 else -line.score,
        0.0,
        mean - line.offset,
        std,
        confidence=confidence(kind, line.score, n, None),
    )


def explain(
    ev: Evidence,
    r: int,
    col: int,
    n: int,
    *,
    layout: Layout,
    classes: Sequence[ClassMean] = (),
    maps: LongMaps | None = None,
) -> list[tuple[Candidate, dict[str, Any]]]:
    """One pixel's statistics next to its neighbourhood's, per channel, with its class and why: the
    candidate, and a dict of its fields with ``likely_defect`` and ``why``, scored as :func:`rank` scores
    (before the per-photo evidence, which :func:`hpstore.timeaxis.defects.judge` adds)."""
    long = _long_class(classes)
    score, confirmed = _scores(ev, maps, MIN_SCORE)
    out = []
    for c in range(ev.mean.shape[2]):
        value = float(score[r, col, c])
        cand = _candidate(ev, r, col, c, n, layout=layout, score=value, maps=maps, classes=classes)
        listed = cand.score >= MIN_SCORE
        extended = listed and _extended(ev, r, col, c, layout, long)
        unconfirmed = listed and confirmed is not None and not confirmed[r, col, c]
        sure = confidence(cand.kind, cand.score, cand.n, cand.n_long, cand.consistency, unconfirmed)
        cand = replace(cand, extended=extended, unconfirmed=unconfirmed, confidence=sure)
        why = reason(cand)
        if extended:
            why += "; but its neighbours share its excess: light in the scene (a star, a lamp), not one photosite"
        if unconfirmed:
            why += (
                f"; but its photos do not set it apart one by one (sign test {cand.consistency or 0:+.1f}): "
                "only photos of many scenes in which it stands out make it a defect"
            )
        fields = {**cand.as_dict(), "likely_defect": listed and not (extended or unconfirmed), "why": why}
        out.append((cand, fields))
    return out
