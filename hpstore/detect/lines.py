"""Bad columns and rows: a whole readout line offset from its neighbours, reported once as a line.

A faulty column amplifier adds the same offset to every photosite of a column. Per row, the column's mean
is compared with the same-colour columns ``d`` to either side (the smaller step, when both go the same
way); the median of that residual over the rows (per CFA row phase, then averaged) is the column's offset,
robust to scene edges, which differ from one side only or span only part of the frame. Offsets are scored
against the spread of the plain (two-sided mean) offsets of all columns of the same colour.

Where the state keeps its neighbour signs (``stats.Pairs``), the photos decide instead, one by one: a bad
column lies above (or below) the same-colour columns on both sides in nearly every row of nearly every
photo, whatever the scenes, while the texture of real scenes, which the mean over a few hundred photos
still shows, changes sides from photo to photo. The line's score is then the smaller of its two sides'
mean signs, against the spread of that measure over the columns of its colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpstore.detect import kernels
from hpstore.stats import Pairs

LINE_SCORE = 6.0  # robust z of a line offset that counts as a bad line
MAX_ROWS = 1024  # rows per colour phase that a line's median looks at


@dataclass(frozen=True)
class Line:
    axis: str  # "column" or "row"
    index: int
    channel: int
    offset: float  # mean offset from the neighbouring lines, in stored units
    score: float


def _offsets(mean: np.ndarray, step: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(offset, plain offset) of every column of a 2-D mean map from its same-colour neighbour columns."""
    # A median over at most ~1000 rows per colour phase is as robust, and far cheaper on 24 MP.
    stride = step * max(1, mean.shape[0] // (step * MAX_ROWS))
    jumps, plains = [], []
    for phase in range(step):
        rows = np.ascontiguousarray(mean[phase::stride])
        w = rows.shape[1]
        left = np.concatenate([rows[:, d : 2 * d], rows[:, : w - d]], axis=1)  # at the border: the inner side
        right = np.concatenate([rows[:, d:], rows[:, w - 2 * d : w - d]], axis=1)
        # The smaller jump to either side, when both go the same way: a bad line stands out from both of
        # its neighbours, while a scene edge along the line differs from one side only, and a line next to
        # a bad one differs from that side only.
        to_left, to_right = rows - left, rows - right
        same_way = to_left * to_right > 0
        jump = np.where(same_way, np.sign(to_left) * np.minimum(np.abs(to_left), np.abs(to_right)), 0.0)
        jumps.append(np.median(jump, axis=0))
        plains.append(np.median(0.5 * (to_left + to_right), axis=0))
    return np.mean(jumps, axis=0), np.mean(plains, axis=0)


def _sides(right: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Per column, from the mean sign of each column against its partner ``d`` to the right: the mean sign
    against both its neighbour columns, the smaller side when both agree, else 0; and against its right one."""
    right = right.copy()
    left = np.zeros_like(right)
    left[d:] = -right[:-d]
    right[-d:] = 0.0  # the last columns' partners lie to their left: no right side
    agree = left * right > 0
    return np.where(agree, np.sign(right) * np.minimum(np.abs(left), np.abs(right)), 0.0), right


def _robust_z(values: np.ndarray, lane: np.ndarray, floor: float) -> np.ndarray:
    scale = max(1.4826 * float(np.median(np.abs(lane - np.median(lane)))), floor)
    return values / scale


def find_lines(
    mean: np.ndarray,
    *,
    step: int,
    d: int,
    floor: float,
    radius: int,
    pairs: Pairs | None = None,
    n: int = 0,
) -> list[Line]:
    """Bad columns and rows of a ``(row, col, channel)`` mean map, strongest first, one per line; scored by
    the neighbour signs of the ``n`` photos when ``pairs`` are given.

    The ``d`` outermost lines are left out: they have neighbours on one side only, and demosaicing
    offsets them on developed images.
    """
    found: list[Line] = []
    # Per column (row), the mean sign against the partner line over all rows (columns) and photos.
    sums = None if pairs is None else kernels.line_sums(pairs.x, pairs.y)
    for axis, plane in (("column", mean), ("row", mean.transpose(1, 0, 2))):
        if plane.shape[1] < 4 * d:
            continue
        best: dict[int, Line] = {}
        for c in range(plane.shape[2]):
            if sums is None:
                off, plain = _offsets(plane[..., c], step, d)
            else:
                right = sums[axis == "row"][:, c] / float(max(n, 1) * plane.shape[0])
                side, one = _sides(right, d)
                # The mean of n x rows signs varies by about 1 / sqrt(n x rows) from noise alone; scene
                # texture that the photos share (a static burst) spreads the one-sided means further.
                noise = 1.0 / np.sqrt(max(n, 1) * plane.shape[0])
            for phase in range(step):
                if sums is None:
                    z = _robust_z(off[phase::step], plain[phase::step], floor)
                else:
                    z = _robust_z(side[phase::step], one[phase::step], noise)
                for k in np.flatnonzero(np.abs(z) >= LINE_SCORE):
                    index = phase + int(k) * step
                    if not d <= index < plane.shape[1] - d:
                        continue
                    # the offset reported: the plain one (the signs score it)
                    if sums is None:
                        offset = float(off[index])
                    else:  # the line and its neighbours alone
                        offset = float(_offsets(plane[:, index - d : index + d + 1, c], step, d)[1][d])
                    line = Line(axis, index, c, offset, float(abs(z[k])))
                    if index not in best or line.score > best[index].score:
                        best[index] = line
        # Developed images smear a bad line over its neighbours: keep the strongest of a cluster.
        kept: list[Line] = []
        for line in sorted(best.values(), key=lambda item: -item.score):
            if all(abs(line.index - other.index) > max(radius, d) for other in kept):
                kept.append(line)
        found += kept
    return sorted(found, key=lambda item: -item.score)
