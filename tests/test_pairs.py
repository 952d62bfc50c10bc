"""Neighbour pair statistics (``stats.Pairs``) and the sign test built on them (issue 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpstore import stats
from hpstore.commands.query import query
from hpstore.detect.cfa import Layout
from hpstore.detect.classes import Levels
from hpstore.detect.evidence import consistency
from hpstore.detect.lines import find_lines
from hpstore.detect.rank import fit_response, rank
from hpstore.ingest.pipeline import ingest
from hpstore.store.state import LocalStateStore
from hpstore.testing.simulator import CameraSpec, write_archive

from .conftest import make_settings


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float64])
@pytest.mark.parametrize(("shape", "d"), [((9, 13, 3), 2), ((12, 12, 1), 6), ((3, 3, 1), 2), ((40, 33, 1), 2)])
def test_pairs_sum_exactly_merge_and_come_out_again(dtype: type, shape: tuple[int, ...], d: int) -> None:
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 250 if dtype == np.uint8 else 60000, (11, *shape)).astype(dtype)
    whole = stats.update(stats.empty(shape, d), frames)
    assert whole.pairs is not None
    for got, total in zip((whole.pairs.x, whole.pairs.y), stats.pair_signs(frames, d), strict=True):
        np.testing.assert_array_equal(got, total)
    first, rest = stats.update(stats.empty(shape, d), frames[:4]), stats.update(stats.empty(shape, d), frames[4:])
    merged = stats.merge(first, rest)
    back = stats.remove_from(merged.copy(), rest)
    assert merged.pairs is not None and back.pairs is not None and first.pairs is not None
    for got, want in ((merged.pairs, whole.pairs), (back.pairs, first.pairs)):
        np.testing.assert_array_equal(got.x, want.x)  # type: ignore[union-attr]
        np.testing.assert_array_equal(got.y, want.y)  # type: ignore[union-attr]


def test_pair_sums_cut_into_pieces_equal_one_pass() -> None:
    rng = np.random.default_rng(3)
    ring = rng.integers(0, 256, (5, 70, 90, 3)).astype(np.uint8)
    one, cut = stats.sums_for((70, 90, 3), np.uint8, 2), stats.sums_for((70, 90, 3), np.uint8, 2)
    stats.add_slots(one, ring, np.arange(5))
    stats.add_slots(cut, ring, np.arange(5), pieces=7)
    assert one.pairs is not None and cut.pairs is not None
    np.testing.assert_array_equal(one.pairs.x, cut.pairs.x)
    np.testing.assert_array_equal(one.pairs.y, cut.pairs.y)


@pytest.mark.parametrize(("shape", "d"), [((70, 90, 3), 2), ((9, 3, 1), 2), ((12, 12, 1), 6)])
def test_sums_made_for_few_frames_are_narrow_and_exact(shape: tuple[int, ...], d: int) -> None:
    # The extremes: 127 frames of 255 and 0 in turn fill the uint16 sum and the int8 sign sums to the brim.
    rng = np.random.default_rng(11)
    ring = rng.integers(0, 256, (127, *shape)).astype(np.uint8)
    ring[::2, 1::2] = 255
    ring[1::2, 1::2] = 0
    ring[:, 0], ring[:, d] = 255, 0  # the first row above its partner in every frame: y sign sums of 127
    narrow, wide = stats.sums_for(shape, np.uint8, d, frames=127), stats.sums_for(shape, np.uint8, d)
    assert narrow.limit == 127 and narrow.s1.dtype == np.uint16 and narrow.pairs is not None
    assert narrow.pairs.x.dtype == np.int8 and wide.pairs is not None and wide.pairs.x.dtype == np.int32
    stats.add_slots(narrow, ring, np.arange(127), pieces=3)
    stats.add_slots(wide, ring, np.arange(127))
    for got, want in ((narrow.s1, wide.s1), (narrow.s2, wide.s2), (narrow.pairs.x, wide.pairs.x)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(narrow.pairs.y, wide.pairs.y)
    assert np.abs(wide.pairs.y).max() == 127
    with pytest.raises(ValueError, match="overflow"):
        stats.add_slots(narrow, ring, np.arange(1))
    region = (slice(1, 5), slice(0, 2))
    a, b = stats.with_sums(None, narrow, region), stats.with_sums(None, wide, region)
    assert a.pairs is not None and b.pairs is not None and a.pairs.x.dtype == np.int32
    for got, want in ((a.mean, b.mean), (a.m2, b.m2), (a.pairs.x, b.pairs.x), (a.pairs.y, b.pairs.y)):
        np.testing.assert_array_equal(got, want)
    assert (
        np.sum(narrow.s1.astype(np.int64)) > 0
        and stats.sums_for(shape, np.uint8, d, frames=258).s1.dtype == np.uint32
    )


def test_a_generation_keeps_its_pairs_and_an_old_one_reads_without(tmp_path: Path) -> None:
    frames = np.random.default_rng(1).integers(0, 4000, (6, 20, 30, 1)).astype(np.uint16)
    store = LocalStateStore(tmp_path / "state.zarr")
    store.write(1, 1, stats.update(stats.empty((20, 30, 1), 2), frames))
    store.write(2, 1, stats.update(stats.empty((20, 30, 1)), frames))  # as stores before pairs were
    back, old = store.read(1, 1, 6), store.read(2, 1, 6)
    assert back.pairs is not None and back.pairs.d == 2 and store.pair_d(1, 1) == 2
    np.testing.assert_array_equal(back.pairs.x, stats.pair_signs(frames, 2)[0])
    assert old.pairs is None and store.pair_d(2, 1) is None


def test_the_sign_test_tells_a_steady_offset_from_a_scene_of_one_photo() -> None:
    rng = np.random.default_rng(5)
    frames = rng.normal(1000, 30, (40, 24, 24, 1))
    frames[:, 6, 6] += 60  # two sigma above its neighbours, in every photo
    frames[3, 16, 16] += 5000  # a glint in one photo
    frames[:, 10, 16] = 1000  # steadier than its neighbours, at their level
    state = stats.update(stats.empty((24, 24, 1), 2), frames)
    assert state.pairs is not None
    t = consistency(state.pairs, state.n)[..., 0]
    assert t[6, 6] > 4  # nearly every photo: about sqrt(40)
    assert abs(t[16, 16]) < 3 and abs(t[10, 16]) < 3
    found = {(c.row, c.col) for c in rank(state, layout=Layout("raw", None, Levels(0, 4095)), top=10)}
    assert (6, 6) in found and (16, 16) not in found and (10, 16) not in found


@pytest.mark.parametrize("shots", [12, 60])
def test_a_camera_without_defects_gets_an_almost_empty_list(tmp_path: Path, shots: int) -> None:
    camera = CameraSpec(model="H1", serial=f"HEALTHY{shots}", height=160, width=240)
    write_archive(tmp_path / "photos", camera, [], shots, seed=shots, stars=True, bursts=[(2, 4)])
    settings = make_settings(tmp_path / "store")
    ingest([str(tmp_path / "photos")], settings)
    for source in ("raw", "rgb"):
        rows = query(settings, source=source, top=5000)
        assert len(rows) <= 3, (source, rows[:5])


def _sign_score(frames: np.ndarray, y: int, x: int, c: int, d: int) -> float:
    """The sign test of one sample, written out: the middle two of its four partners' scores."""
    h, w = frames.shape[1:3]
    scores = []
    for dy, dx in ((0, d), (0, -d), (d, 0), (-d, 0)):
        yy, xx = (y + dy, x + dx) if 0 <= y + dy < h and 0 <= x + dx < w else (y - dy, x - dx)
        diff = frames[:, y, x, c].astype(int) - frames[:, yy, xx, c].astype(int)
        scores.append(float(np.sign(diff).mean()) * len(frames) ** 0.5)
    low, high = sorted(scores)[1:3]
    return low if low > 0 else high if high < 0 else 0.0


def test_the_sign_test_matches_its_definition_everywhere_even_at_the_borders() -> None:
    frames = np.random.default_rng(2).integers(0, 200, (30, 9, 11, 2)).astype(np.uint8)
    frames[:, 4, 5, 0] = 250
    state = stats.update(stats.empty(frames.shape[1:], 2), frames)
    assert state.pairs is not None
    got = consistency(state.pairs, 30)
    want = np.array([[[_sign_score(frames, y, x, c, 2) for c in range(2)] for x in range(11)] for y in range(9)])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert got[4, 5, 0] == pytest.approx(30**0.5)


def _classes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Dark weights and gains of a short and a long class whose long exposures are also high-ISO ones."""
    t_short, t_long = rng.uniform(1 / 1000, 1 / 30, 60), rng.uniform(1, 30, 40)
    g_short, g_long = rng.choice([1.0, 2.0], 60), rng.choice([8.0, 16.0, 32.0], 40)
    return t_short * g_short, t_long * g_long, g_short, g_long


def test_an_iso_scaled_offset_is_an_offset_and_dark_current_a_rate() -> None:
    w_short, w_long, g_short, g_long = _classes(np.random.default_rng(4))
    b, rate = 40.0, 3.0  # DN at ISO 100; DN per second at ISO 100
    partial = fit_response(
        b * g_short.mean(), b * g_long.mean(), w_short, w_long, 1e9, g_short.mean(), g_long.mean()
    )
    assert partial == pytest.approx((0.0, b), abs=1e-6)
    hot = fit_response(
        rate * w_short.mean(), rate * w_long.mean(), w_short, w_long, 1e9, g_short.mean(), g_long.mean()
    )
    assert hot == pytest.approx((rate, 0.0), abs=1e-6)
    # a fixed offset in DN, whatever the gain, is no dark current either: it falls as the gain rises
    fixed_rate, _ = fit_response(b, b, w_short, w_long, 1e9, g_short.mean(), g_long.mean())
    assert fixed_rate <= 0


def test_sign_sums_of_a_large_generation_keep_their_range(tmp_path: Path) -> None:
    """Generations of up to 32,767 frames store sign sums as int16; larger ones as int32, without overflow."""
    shape = (8, 8, 1)
    store = LocalStateStore(tmp_path / "state.zarr")
    for n in (30_000, 40_000):
        state = stats.empty(shape, 2)
        state.n = n
        assert state.pairs is not None
        state.pairs.x[...] = n - 1
        state.pairs.y[...] = -(n - 2)
        store.write(n, 1, state)
        back = store.read(n, 1, n).pairs
        assert back is not None and int(back.x.max()) == n - 1 and int(back.y.min()) == -(n - 2)


def test_a_bad_column_under_busy_scenes_is_found_by_its_photos_one_by_one() -> None:
    # Scenes far busier than the column's offset: in the mean over 60 photos a column's rows still differ by
    # more than the offset, but photo after photo the bad column lies above both its neighbours.
    rng = np.random.default_rng(5)
    frames = rng.normal(2000.0, 200.0, (60, 200, 80, 1))
    frames[:, :, 41] += 30.0
    state = stats.empty(frames.shape[1:], 2)
    stats.update(state, frames)
    mean = state.mean
    by_signs = find_lines(mean, step=2, d=2, floor=1.0, radius=0, pairs=state.pairs, n=state.n)
    by_mean = find_lines(mean, step=2, d=2, floor=1.0, radius=0)
    assert [(line.axis, line.index) for line in by_signs] == [("column", 41)]
    assert by_signs[0].offset == pytest.approx(30.0, abs=15.0)
    assert all(line.score < by_signs[0].score for line in by_mean)  # the means alone see it less well
