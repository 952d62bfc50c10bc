"""Dating a defect from per-photo evidence (``hpstore.timeaxis.onset``) and the per-photo scan
(``hpstore.ingest.scan``),
on constructed evidence where the right answer is known."""

from __future__ import annotations

import datetime as dt

import numpy as np

from hpstore.ingest.scan import CAP, SIGMAS, Standouts, scan
from hpstore.store.catalog import Photo
from hpstore.timeaxis import onset

START = dt.datetime(2020, 1, 1)


def _photos(settings: list[tuple[float, int]]) -> list[Photo]:
    return [
        Photo(i, f"/p/{i:04d}.dng", None, None, 1, START + dt.timedelta(days=i), exposure, float(iso), None)
        for i, (exposure, iso) in enumerate(settings)
    ]


def _hits(photos: int, stood: list[int], excess: float = 500.0, bar: float = 50.0) -> onset.Hits:
    """Evidence of one target that stood out by ``excess`` in the photos ``stood``; every photo's bar
    is ``bar``."""
    column = np.zeros((photos, 1), np.float32)
    column[np.asarray(stood, int), 0] = excess
    return onset.Hits(column, np.full(photos, bar))


def test_change_point_finds_where_the_rate_jumps_and_ignores_one_early_fluke() -> None:
    seq = np.array([0] * 30 + [1] + [0] * 19 + [1, 1, 0, 1, 1, 1, 0, 1, 1, 1] * 3)
    split = onset.change_point(seq)
    assert 30 < split <= 50 and split + int(np.argmax(seq[split:])) == 50  # past the fluke, at the onset
    assert onset.change_point(np.array([1, 0, 1, 1, 0, 1, 1, 1] * 5)) == 0  # one rate all along


def test_a_partial_offset_is_dated_to_its_first_photo_after_one_early_fluke() -> None:
    photos = _photos([(0.01, 100)] * 60)
    stood = [12, *list(range(40, 60))]
    seen = onset.seen(photos, _hits(len(photos), stood), 0, onset.Target(np.array([0]), 1, dark=False))
    assert seen.first == photos[40].capture_time and seen.last == photos[59].capture_time
    assert seen.appeared and not seen.scene and seen.photos == 21


def test_a_hot_pixel_is_dated_by_the_photos_dark_enough_to_show_it() -> None:
    # Daylight shots (1/500 s) cannot show 300 DN/s; night shots (10 s) can, from shot 30 on.
    settings = [(10.0, 100) if i % 4 == 0 else (0.002, 100) for i in range(80)]
    photos = _photos(settings)
    stood = [i for i in range(30, 80) if i % 4 == 0]
    seen = onset.seen(photos, _hits(len(photos), stood), 0, onset.Target(np.array([0]), 1, dark=True))
    assert seen.first == photos[32].capture_time  # the first night shot after the onset


def test_a_star_on_one_tracking_burst_is_scene_light_not_a_defect() -> None:
    settings = [(0.01, 100)] * 20 + [(30.0, 800)] * 10 + [(0.01, 100)] * 10 + [(20.0, 1600)] * 10
    photos = _photos(settings)
    star = onset.seen(
        photos, _hits(len(photos), list(range(20, 30))), 0, onset.Target(np.array([0]), 1, dark=True)
    )
    assert star.scene
    hot = onset.seen(
        photos, _hits(len(photos), [*list(range(20, 30)), 42, 45, 48]), 0, onset.Target(np.array([0]), 1, True)
    )
    assert not hot.scene  # later night shots show it too


def test_a_defect_that_appears_in_the_last_burst_is_not_taken_for_scene_light() -> None:
    photos = _photos([(0.01, 100)] * 30 + [(30.0, 800)] * 8)
    seen = onset.seen(
        photos, _hits(len(photos), list(range(30, 38))), 0, onset.Target(np.array([0]), 1, dark=True)
    )
    assert not seen.scene and seen.first == photos[30].capture_time


def test_scan_finds_isolated_points_not_edges_and_keeps_the_strongest() -> None:
    rng = np.random.default_rng(1)
    frame = rng.normal(1000, 4, (200, 300, 1)).astype(np.uint16)
    frame[:, 150:, 0] += 3000  # a vertical edge
    frame[100:, :, 0] += 2000  # and a horizontal one
    frame[40, 60, 0] += 400  # a hot photosite
    frame[140, 220, 0] = 0  # a dead one
    found = scan(frame, 2)
    where = [tuple(int(x) for x in np.unravel_index(int(i), frame.shape)[:2]) for i in found.index]
    assert set(where[:2]) == {(40, 60), (140, 220)}  # the strongest first
    assert not any(abs(r - 100) <= 2 or abs(c - 150) <= 2 for r, c in where)  # the edges do not stand out
    assert all(abs(e) < 6 * 4 for e in found.excess[2:])  # the rest is the noise's tail
    assert Standouts.unpack(found.pack()).index.tolist() == found.index.tolist()


def test_scan_of_a_frame_full_of_points_keeps_the_strongest_cap_and_records_its_raised_bar() -> None:
    rng = np.random.default_rng(2)
    frame = rng.normal(60, 2, (600, 800, 3)).astype(np.uint8)
    rows, cols = rng.integers(5, 595, 12000), rng.integers(5, 795, 12000)
    frame[rows, cols, 1] += rng.integers(40, 120, 12000).astype(np.uint8)  # glints everywhere
    frame[300, 400, 1] = 250  # the strongest
    found = scan(frame, 2)
    assert len(found.index) <= CAP
    assert found.threshold > SIGMAS * found.noise  # the bar rose above the noise bar
    assert np.abs(found.excess).min() > found.threshold - 1
    assert (300 * 800 + 400) * 3 + 1 in set(found.index.tolist())


def test_a_light_that_misses_most_long_exposures_after_it_is_no_dark_current() -> None:
    # Long exposures every third photo. A lamp in one composition, shot again twice, lights the pixel in
    # those photos only; a hot pixel shows in every long exposure from its onset on.
    photos = _photos([(10.0, 800) if i % 3 == 0 else (0.002, 100) for i in range(90)])
    lamp = onset.seen(photos, _hits(90, [30, 31, 60]), 0, onset.Target(np.array([0]), 1, dark=True))
    assert lamp.scene and not lamp.persistent
    hot = onset.seen(
        photos, _hits(90, [i for i in range(30, 90, 3) if i != 45]), 0, onset.Target(np.array([0]), 1, True)
    )
    assert not hot.scene and hot.first == photos[30].capture_time
    # an offset is judged by other rules: its scenes decide where it can show
    partial = onset.seen(photos, _hits(90, [30, 31, 60]), 0, onset.Target(np.array([0]), 1, dark=False))
    assert not partial.scene
