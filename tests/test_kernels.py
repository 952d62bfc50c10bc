"""The ranking's compiled kernels against plain references: the fused tile pass, the point kernels that
candidates use, and the score pass must give the same numbers to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from hpstore.detect import evidence as ev_mod
from hpstore.detect import kernels
from hpstore.detect.cfa import TILE, Layout
from hpstore.detect.classes import Levels
from hpstore.detect.evidence import LongMaps, Std, best_scores, evidence, point_score
from hpstore.stats import Pairs

K = 1.0 / 0.95


def _reference_z(values: np.ndarray, d: int, step: int, floor: float) -> np.ndarray:
    """z of every sample from :func:`kernels.sample` one by one and numpy's median per tile lattice."""
    h, w, channels = values.shape
    out = np.empty(values.shape, np.float32)
    span = TILE * step
    buf = np.empty(8)
    for c in range(channels):
        plane = np.ascontiguousarray(values[..., c])
        res, spread = np.empty((h, w)), np.empty((h, w))
        for y in range(h):
            for x in range(w):
                _, res[y, x], spread[y, x] = kernels.sample(plane, 0, 0, h, w, y, x, d, buf)
        for y0 in range(0, h, span):
            for x0 in range(0, w, span):
                for oy in range(step):
                    for ox in range(step):
                        cell = (slice(y0 + oy, y0 + span, step), slice(x0 + ox, x0 + span, step))
                        if spread[cell].size:
                            scale = max(float(np.median(spread[cell])) * K, floor)
                            out[(*cell, c)] = res[cell] / scale
    return out


@pytest.mark.parametrize(
    ("source", "pattern", "shape"),
    [("raw", "RGGB", (150, 134, 1)), ("rgb", None, (70, 101, 3)), ("raw", "RGGB", (9, 200, 1))],
)
def test_the_tile_pass_and_the_point_kernels_agree_with_a_plain_reference(
    source: str, pattern: str | None, shape: tuple[int, int, int]
) -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(100.0, 5.0, shape)
    r0 = min(20, shape[0] // 2)
    values[r0, 30] += 90.0  # an outlier
    values[:, 7] += 40.0  # a bright column
    layout = Layout(source, pattern, Levels(0.0, 4095.0))
    z = ev_mod.zmap(values, layout)
    np.testing.assert_array_equal(z, _reference_z(values, layout.distance, layout.step, layout.floor))
    assert z[r0, 30].max() > 8
    medians = kernels.neighbour_medians(np.ascontiguousarray(values[..., 0]), layout.distance)
    h, w = shape[:2]
    points = [(0, 0), (h - 1, w - 1), (1, w - 2), (h // 2, 0), (r0, 30), (h - 2, w // 2)]
    points += [(int(r), int(c)) for r, c in zip(rng.integers(0, h, 20), rng.integers(0, w, 20), strict=True)]
    for r, col in points:
        for c in range(shape[2]):
            assert ev_mod.z_at(values, r, col, c, layout) == z[r, col, c]
        assert ev_mod.median_at(values, r, col, 0, layout) == medians[r, col]


def test_the_score_pass_agrees_with_the_score_of_each_sample() -> None:
    rng = np.random.default_rng(4)
    shape = (40, 60, 3)
    n = 30
    mean = rng.normal(100.0, 5.0, shape)
    mean[10, 10, 1] += 60.0
    sx, sy = (rng.integers(-n, n + 1, shape).astype(np.int16) for _ in range(2))
    sx[10, 10, 1], sy[10, 10, 1] = n, n  # above its partners in every photo
    layout = Layout("rgb")
    e = evidence(mean, Std(rng.uniform(1, 9, shape), n), layout=layout, pairs=Pairs(2, sx, sy), n=n)
    long_z = rng.normal(0, 4, shape).astype(np.float32)
    maps = LongMaps(long_z, rng.normal(0, 4, shape).astype(np.float32), None)
    for long_maps in (None, maps):
        for min_score in (None, 2.5):
            flat, which = best_scores(e, long_maps, min_score)
            for r in range(shape[0]):
                for col in range(shape[1]):
                    scores = [point_score(e, long_maps, r, col, c, min_score)[0] for c in range(3)]
                    assert which[r, col] == int(np.argmax(scores))
                    assert flat[r, col] == np.float32(max(scores))
    assert which[10, 10] == 1 and flat[10, 10] > 5
    # the sign test at one sample equals the whole map's
    t = ev_mod.consistency(Pairs(2, sx, sy), n)
    for r, col in [(0, 0), (10, 10), (39, 59), (1, 30)]:
        for c in range(3):
            assert ev_mod.sign_at(Pairs(2, sx, sy), n, r, col, c) == t[r, col, c]
