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


def test_sums_added_in_batches_then_flushed_match_numpy() -> None:
    rng = np.random.default_rng(5)
    for dtype, high in ((np.uint8, 256), (np.uint16, 1 << 16)):
        frames = rng.integers(0, high, (23, 5, 7, 3), dtype=dtype)
        state, sums = stats.empty(frames.shape[1:]), stats.sums_for(frames.shape[1:], dtype)
        # Slots out of order and batches of 1, 9 (more than one group of four) and 13: the ring as ingest uses it.
        order = rng.permutation(len(frames))
        for batch in (order[:1], order[1:10], order[10:]):
            stats.add_slots(sums, frames, batch, pieces=3)
        assert sums.n == len(frames)
        stats.flush(state, sums)
        assert sums.n == 0 and not sums.s1.any() and not sums.s2.any()
        _close(state, frames)
        # A second flush into the same state is a Chan merge of the two.
        more = rng.integers(0, high, (6, 5, 7, 3), dtype=dtype)
        stats.flush(state, stats.add_slots(sums, more, np.arange(6)))
        _close(state, np.concatenate([frames, more]))


def test_a_state_merged_with_sums_region_by_region_equals_the_whole() -> None:
    # How a commit writes: each chunk's region of the committed state, merged with that region of the sums.
    rng = np.random.default_rng(6)
    old, new = rng.integers(0, 256, (2, 9, 10, 13, 3), dtype=np.uint8)
    committed = stats.update(stats.empty(old.shape[1:]), old)
    sums = stats.add_slots(stats.sums_for(new.shape[1:], np.uint8), new, np.arange(len(new)))
    for base in (committed, None):
        whole = stats.empty(committed.shape)
        for rows, cols in ((slice(0, 4), slice(0, 8)), (slice(0, 4), slice(8, 13)), (slice(4, 10), slice(0, 13))):
            window = (
                None
                if base is None
                else stats.State(base.n, base.mean[rows, cols].copy(), base.m2[rows, cols].copy())
            )
            part = stats.with_sums(window, sums, (rows, cols))
            whole.mean[rows, cols], whole.m2[rows, cols], whole.n = part.mean, part.m2, part.n
        _close(whole, new if base is None else np.concatenate([old, new]))
    assert sums.n == len(new) and sums.s1.any()  # left as they were


def test_sums_stay_exact_up_to_their_limit() -> None:
    # The extremes the integer types must hold: LIMIT8 frames of 0 and 255, LIMIT16 frames of 0 and 65535.
    for dtype, top, limit in ((np.uint8, 255, stats.LIMIT8), (np.uint16, 65535, stats.LIMIT16)):
        frames = np.zeros((limit, 1, 2, 1), dtype)
        frames[::2, 0, 0, 0] = top  # half at each end: the largest variance
        frames[:, 0, 1, 0] = top  # constant at the top: variance exactly 0
        sums = stats.add_slots(stats.sums_for((1, 2, 1), dtype), frames, np.arange(limit))
        assert sums.room == 0
        state = stats.flush(stats.empty((1, 2, 1)), sums)
        mean, var = stats.finalize(state)
        assert mean[0, 0, 0] == top / 2 and var[0, 0, 0] == (top / 2) ** 2
        assert mean[0, 1, 0] == top and var[0, 1, 0] == 0.0


def test_sums_refuse_frames_they_cannot_hold() -> None:
    sums = stats.sums_for((2, 2, 1), np.uint8)
    for frames, slots, message in (
        (np.zeros((3, 2, 2, 1), np.uint16), np.arange(1), "other sample size"),
        (np.zeros((3, 2, 3, 1), np.uint8), np.arange(1), "do not fit"),
    ):
        try:
            stats.add_slots(sums, frames, slots)
        except ValueError as err:
            assert message in str(err)
        else:
            raise AssertionError(f"expected ValueError: {message}")
    sums.n = sums.limit - 1
    try:
        stats.add_slots(sums, np.zeros((2, 2, 2, 1), np.uint8), np.arange(2))
    except ValueError as err:
        assert "merge them first" in str(err)
    else:
        raise AssertionError("expected ValueError: overflow")
