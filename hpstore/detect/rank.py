"""Rank and classify suspicious pixels from a group's statistics (:mod:`hpstore.detect.evidence` scores
every sample; here the best are picked, one entry per defect, and told apart by class)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from hpstore.detect.cfa import Layout
from hpstore.detect.classes import KINDS, MIN_SCORE, Candidate, Levels, Response, classify, confidence, reason
from hpstore.detect.evidence import (
    MIN_LONG,
    Evidence,
    LongMaps,
    Std,
    best_scores,
    evidence,
    long_class,
    long_maps,
    point_score,
)
from hpstore.detect.lines import Line, find_lines
from hpstore.stats import State
from hpstore.timeaxis.exposure import LONG, SHORT, ClassMean

__all__ = ["KINDS", "MIN_SCORE", "Candidate", "ClassMean", "Levels", "evidence", "explain", "rank", "reason"]

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
    ev = evidence(state.mean, Std(state.m2, state.n), layout=layout, pairs=state.pairs, n=state.n)
    maps = long_maps(classes, layout=layout)
    loose = min_score if keep_extended else None
    best, best_c = best_scores(ev, maps, loose)
    radius = 0 if layout.raw else 2
    step, d, floor = layout.step, layout.distance, layout.floor
    bad = find_lines(ev.mean, step=step, d=d, floor=floor, radius=radius, pairs=state.pairs, n=state.n)
    long = long_class(classes)
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
    for line in bad:  # pixels of a bad line are reported with their line
        lo, hi = max(0, line.index - radius), line.index + radius + 1
        if line.axis == "column":
            best[:, lo:hi] = -np.inf
        else:
            best[lo:hi, :] = -np.inf
    flat = best.reshape(-1)
    above = np.flatnonzero(flat >= np.float32(min_score))
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
        unconfirmed = point_score(ev, maps, r, col, c, loose)[1] is False
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
    long = long_class(classes)
    out = []
    for c in range(ev.mean.shape[2]):
        value, confirmed = point_score(ev, maps, r, col, c, MIN_SCORE)
        cand = _candidate(ev, r, col, c, n, layout=layout, score=value, maps=maps, classes=classes)
        listed = cand.score >= MIN_SCORE
        extended = listed and _extended(ev, r, col, c, layout, long)
        unconfirmed = listed and confirmed is False
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
