from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hpstore import stats


def _fold(frames: np.ndarray, sizes: list[int]) -> stats.State:
    state = stats.empty(frames.shape[1:])
    start = 0
    for size in sizes:
        stats.update(state, frames[start : start + size])
        start += size
    stats.update(state, frames[start:])
    return state


def _close(state: stats.State, frames: np.ndarray) -> None:
    mean, var = stats.finalize(state)
    assert state.n == len(frames)
    np.testing.assert_allclose(mean, frames.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var, frames.astype(np.float64).var(axis=0), rtol=1e-9, atol=1e-9)


def test_batched_update_matches_numpy_uint8_and_uint16() -> None:
    rng = np.random.default_rng(1)
    for dtype, high in ((np.uint8, 256), (np.uint16, 1 << 14)):
        frames = rng.integers(0, high, (37, 9, 11, 3), dtype=dtype)
        _close(_fold(frames, [1, 16, 5, 7]), frames)


def test_float_frames_take_the_generic_path() -> None:
    frames = np.random.default_rng(2).normal(1000.0, 3.0, (10, 4, 5, 1))
    _close(_fold(frames, [3, 3]), frames)


def test_large_offset_small_spread_stays_exact() -> None:
    # Near-white values with a tiny spread: a naive sum of squares in float would lose the variance.
    frames = (16000 + np.random.default_rng(3).integers(0, 3, (50, 6, 6, 1))).astype(np.uint16)
    _close(_fold(frames, [16, 16, 16]), frames)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), cut=st.integers(1, 39), seed=st.integers(0, 2**32 - 1))
def test_merge_of_any_split_equals_one_pass(n: int, cut: int, seed: int) -> None:
    cut = min(cut, n - 1)
    frames = np.random.default_rng(seed).integers(0, 256, (n, 3, 4, 3), dtype=np.uint8)
    a = _fold(frames[:cut], [])
    b = _fold(frames[cut:], [])
    merged = stats.merge(a, b)
    _close(merged, frames)
    # the inputs are left as they were
    _close(a, frames[:cut])


def test_merge_with_empty_is_identity() -> None:
    frames = np.random.default_rng(4).integers(0, 256, (5, 2, 2, 1), dtype=np.uint8)
    state = _fold(frames, [])
    merged = stats.merge(stats.empty(state.shape), state)
    _close(merged, frames)


def test_shape_mismatch_is_refused() -> None:
    state = stats.empty((2, 2, 1))
    try:
        stats.update(state, np.zeros((1, 2, 3, 1), np.uint8))
    except ValueError as err:
        assert "do not fit" in str(err)
    else:
        raise AssertionError("expected ValueError")


def test_finalize_of_empty_is_nan() -> None:
    mean, var = stats.finalize(stats.empty((1, 1, 1)))
    assert np.isnan(mean).all() and np.isnan(var).all()
