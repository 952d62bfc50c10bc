"""The evidence against every sample of a state: how far its mean lies from its same-colour neighbourhood,
and how consistently its photos, one by one, put it there.

Every sample is compared with its same-colour neighbourhood, never with the whole frame: the eight
neighbours at distance ``d`` in rows, columns and diagonals (``d`` = the CFA step on a RAW mosaic, so
they share the pixel's colour filter; ``d`` = 2 on developed images, so the neighbours are outside the
smear of a JPEG/demosaiced defect). For the mean and for the standard deviation across photos we form

    z = (value - median of the 8 neighbours) / local robust scale

where the scale is 1.4826 x the median absolute residual over a tile of the same colour. A hot pixel has a
high mean z and a high spread z (its excess grows with exposure), a stuck or dead one a very negative
spread z at a white or black level, a partially stuck one a high mean z with an ordinary spread. A dark or
static scene area moves its neighbours too and scores nothing, unlike the 2011 script's raw variance.

Ranking needs one map of the state's size, the mean's z-score; the rest (the neighbours' levels, the
spread's z-score, the sign test) is computed where a candidate asks for it (:class:`PointMap`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpstore.detect import kernels
from hpstore.detect.cfa import TILE, Layout
from hpstore.stats import Pairs
from hpstore.timeaxis.exposure import LONG, ClassMean

LOW_SPREAD, HIGH_SPREAD = 0.5, 1.25  # spread ratios to the neighbours' that count as evidence
MIN_LONG = 3  # long exposures needed before their own z-score counts
CONSISTENT = 3.0  # sign-test score from which a difference counts as shown by the photos, not by a few
# For Gaussian noise of deviation s, the 3rd-lowest to 3rd-highest of 8 samples spans about 0.95 s.
_SPREAD_TO_SIGMA = 1.0 / 0.95
_NONE = np.zeros((1, 1, 1), np.float32)  # "no long-exposure map" for the kernels


class Std:
    """The standard deviation ``sqrt(m2 / n)`` of a state, computed where it is read (``std[key]``)."""

    def __init__(self, m2: np.ndarray, n: int) -> None:
        self.m2, self.n, self.shape = m2, n, m2.shape

    def __getitem__(self, key: Any) -> Any:
        return np.sqrt(self.m2[key] / self.n)


Values = np.ndarray | Std


class PointMap:
    """A per-sample ``(row, col, channel)`` map computed where it is read: ``m[r, col, c]`` is a float,
    ``m[r, col]`` the pixel's channels."""

    def __init__(self, at: Callable[[int, int, int], Any], channels: int) -> None:
        self._at, self._channels = at, channels

    def __getitem__(self, key: tuple[int, ...]) -> Any:
        if len(key) == 3:
            return self._at(*key)
        r, col = key
        return np.array([self._at(r, col, c) for c in range(self._channels)])


def zmap(values: np.ndarray, layout: Layout) -> np.ndarray:
    """The z-score of every sample of a ``(row, col, channel)`` map, float32."""
    return kernels.zmap(values, layout.distance, layout.step, TILE, _SPREAD_TO_SIGMA, layout.floor)


def _window(values: Values, r: int, col: int, c: int, reach: int) -> tuple[np.ndarray, int, int]:
    """The samples of channel ``c`` up to ``reach`` from (r, col) as a float64 plane, and its origin."""
    h, w = values.shape[0], values.shape[1]
    y0, x0 = max(r - reach, 0), max(col - reach, 0)
    plane = np.ascontiguousarray(values[y0 : min(r + reach + 1, h), x0 : min(col + reach + 1, w), c], np.float64)
    return plane, y0, x0


def median_at(values: Values, r: int, col: int, c: int, layout: Layout) -> np.float32:
    """The median of sample (r, col, c)'s 8 neighbours (:func:`kernels.sample`), float32."""
    d = layout.distance
    plane, y0, x0 = _window(values, r, col, c, kernels.MARGIN * d)
    h, w = values.shape[0], values.shape[1]
    return np.float32(kernels.median_at(plane, y0, x0, h, w, r, col, d))


def z_at(values: Values, r: int, col: int, c: int, layout: Layout) -> np.float32:
    """:func:`zmap` at one sample, computed from its tile alone."""
    d, step = layout.distance, layout.step
    reach = TILE * step + kernels.MARGIN * d
    plane, y0, x0 = _window(values, r, col, c, reach)
    h, w = values.shape[0], values.shape[1]
    return kernels.z_at(plane, y0, x0, h, w, r, col, d, step, TILE, _SPREAD_TO_SIGMA, layout.floor)


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
    return kernels.signs(pairs.x, pairs.y, pairs.d, _sign_scale(n))


def _sign_scale(n: int) -> float:
    return float(1.0 / np.sqrt(max(n, 1)))


def sign_at(pairs: Pairs, n: int, r: int, col: int, c: int) -> np.float32:
    """:func:`consistency` at one sample. (numba hands a float32 back as a Python float: made float32 again,
    so that :func:`kernels.agree` computes in float32, as the whole-frame pass does.)"""
    return np.float32(kernels.sign_at(pairs.x, pairs.y, pairs.d, r, col, c, _sign_scale(n)))


class Evidence:
    """Per-sample evidence ``(row, col, channel)``: the state's ``mean`` and ``std``, the z-score of the
    mean against the neighbourhood (``z_mean``, every sample), and where read: the neighbours' levels
    (``nb_mean``, ``nb_std``), the spread's z-score (``z_std``), the paired consistency across photos
    (``t``: :func:`consistency`, None for a state without pairs) and the ``score`` both give."""

    def __init__(
        self,
        mean: np.ndarray,
        std: Values,
        z_mean: np.ndarray,
        *,
        layout: Layout,
        pairs: Pairs | None,
        n: int,
        score: np.ndarray | None = None,
        z_std: np.ndarray | None = None,
    ) -> None:
        channels = mean.shape[2]
        self.mean, self.std, self.z_mean, self.layout = mean, std, z_mean, layout
        self.pairs, self.n = pairs, n
        self.nb_mean = PointMap(lambda r, col, c: median_at(mean, r, col, c, layout), channels)
        self.nb_std = PointMap(lambda r, col, c: median_at(std, r, col, c, layout), channels)
        self.z_std: np.ndarray | PointMap = (
            PointMap(lambda r, col, c: z_at(std, r, col, c, layout), channels) if z_std is None else z_std
        )
        self.t: PointMap | None = None
        if pairs is not None:
            self.t = PointMap(lambda r, col, c: sign_at(pairs, n, r, col, c), channels)
        self.score: np.ndarray | PointMap = score if score is not None else PointMap(self._agreeing, channels)

    def _agreeing(self, r: int, col: int, c: int) -> np.float32:
        assert self.t is not None
        return kernels.agree(self.z_mean[r, col, c], self.t[r, col, c], np.float32(CONSISTENT))


def evidence(mean: np.ndarray, std: Values, *, layout: Layout, pairs: Pairs | None = None, n: int = 0) -> Evidence:
    """Compare every sample's mean (and standard deviation) with its same-colour neighbourhood; with the
    state's ``pairs`` (of ``n`` photos), count only what the photos show consistently (:func:`consistency`):
    a mean apart from the neighbours' in every photo.

    Without pairs (stores from before them), a spread far above or below the neighbours' counts too, and
    its maps are computed whole."""
    z_m = zmap(mean, layout)
    if pairs is not None:
        # Only a mean that sits apart in nearly every photo counts. A frozen pixel (stuck, dead) sits apart
        # too. A spread above the neighbours' alone is no evidence: second moments cannot tell a pixel that
        # varies in every photo from one that a single scene's texture lit once.
        return Evidence(mean, std, z_m, layout=layout, pairs=pairs, n=n)
    full = std if isinstance(std, np.ndarray) else std[...]
    z_s = zmap(full, layout)
    med_s = np.empty(full.shape, np.float32)
    for c in range(full.shape[2]):
        med_s[..., c] = kernels.neighbour_medians(full[..., c], layout.distance)
    # A spread that differs only statistically, not materially, is no defect: JPEG blocks give the spread
    # z-scores heavy tails. Spread evidence counts from 1/2 or 5/4 of the neighbours' spread on.
    q = layout.floor
    ratio = (full / np.maximum(med_s, q)).astype(np.float32)
    weak = ((z_s < 0) & (ratio > LOW_SPREAD)) | ((z_s > 0) & (ratio < HIGH_SPREAD))
    score = np.maximum(np.abs(z_m), np.where(weak, np.float32(0), np.abs(z_s)))
    return Evidence(mean, full, z_m, layout=layout, pairs=None, n=n, score=score, z_std=z_s)


def long_class(classes: Sequence[ClassMean]) -> ClassMean | None:
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
    long = long_class(classes)
    if long is None:
        return None
    z = zmap(long.mean, layout)
    if long.pairs is None:
        return LongMaps(z, z, None)
    t = consistency(long.pairs, long.n)
    agreeing = kernels.agree_map(z, t, np.float32(CONSISTENT))
    return LongMaps(np.copysign(agreeing, z).astype(np.float32), z, t)


def point_score(
    ev: Evidence, maps: LongMaps | None, r: int, col: int, c: int, min_score: float | None
) -> tuple[float, bool | None]:
    """Sample (r, col, c)'s score and, given ``min_score``, whether its photos confirm it one by one (None
    without it, or for stores without pairs). A candidate the photos do not confirm is scored by the
    neighbourhood alone, for per-photo evidence to judge (a defect that appeared late, a dark one seen in
    few long exposures). The same numbers as :func:`best_scores` gives."""
    score = np.float32(ev.score[r, col, c])
    if maps is not None:
        score = max(score, abs(maps.z[r, col, c]))
    if ev.t is None or min_score is None:
        return float(score), None
    if score >= np.float32(min_score):
        return float(score), True
    loose = abs(ev.z_mean[r, col, c])
    if maps is not None:
        loose = max(loose, abs(maps.loose[r, col, c]))
    return float(loose), False


def best_scores(ev: Evidence, maps: LongMaps | None, min_score: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Every pixel's best :func:`point_score` over its channels, float32 ``(row, col)``, and that channel."""
    if ev.pairs is not None:
        long_z, loose = (_NONE, _NONE) if maps is None else (maps.z, maps.loose)
        floor = np.float32(-np.inf if min_score is None else min_score)
        return kernels.best(
            ev.z_mean,
            ev.pairs.x,
            ev.pairs.y,
            ev.pairs.d,
            _sign_scale(ev.n),
            np.float32(CONSISTENT),
            long_z,
            loose,
            floor,
            min_score is not None,
        )
    assert isinstance(ev.score, np.ndarray)
    score = ev.score if maps is None else np.maximum(ev.score, np.abs(maps.z))
    which = np.argmax(score, axis=2)
    return np.take_along_axis(score, which[..., None], axis=2)[..., 0], which.astype(np.uint8)
