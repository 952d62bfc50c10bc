"""Ingest end to end on simulator archives: exact statistics, incremental updates, grouping, duplicates."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pytest
import rawpy
import simplejpeg

from hpstore import stats
from hpstore.ingest.pipeline import _Ingest, ingest
from hpstore.settings import Settings
from hpstore.store.catalog import DUPLICATE, INGESTED, Group
from hpstore.store.storage import Storage
from hpstore.testing.simulator import Archive, CameraSpec, write_archive

from .conftest import make_settings, merged_states


def _states(settings: Settings) -> dict[str, stats.State]:
    return merged_states(settings)


def _raw_frames(paths: list[Path]) -> np.ndarray:
    frames = []
    for p in paths:
        with rawpy.imread(str(p)) as raw:
            frames.append(raw.raw_image_visible.copy()[:, :, None])
    return np.stack(frames)


def _jpeg_frames(paths: list[Path]) -> np.ndarray:
    return np.stack([simplejpeg.decode_jpeg(p.read_bytes(), colorspace="RGB") for p in paths])


def test_state_matches_numpy_over_the_same_frames(archive: Archive, settings: Settings) -> None:
    # Tiny batches and several commits: the result must not depend on batching.
    settings = settings.with_(max_batch_frames=4, commit_seconds=0.0)
    report = ingest([str(archive.shots[0].paths["dng"].parent)], settings)
    assert report.ingested == 2 * len(archive.shots)
    _close_to_frames(settings, archive)


def test_a_then_b_equals_a_and_b_at_once(archive: Archive, tmp_path: Path) -> None:
    folder_a, folder_b = tmp_path / "a", tmp_path / "b"
    folder_a.mkdir()
    folder_b.mkdir()
    for shot in archive.shots:
        target = folder_a if shot.index < 13 else folder_b
        for path in shot.paths.values():
            shutil.copy2(path, target / path.name)
    both = make_settings(tmp_path / "both")
    ingest([str(folder_a), str(folder_b)], both)
    steps = make_settings(tmp_path / "steps")
    first = ingest([str(folder_a)], steps)
    second = ingest([str(folder_a), str(folder_b)], steps)
    assert first.ingested == 26 and second.ingested == 34 and second.unchanged == 26
    s_both, s_steps = _states(both), _states(steps)
    assert s_both.keys() == s_steps.keys()
    for key, state in s_both.items():
        assert state.n == s_steps[key].n
        np.testing.assert_allclose(s_steps[key].mean, state.mean, rtol=1e-9)
        np.testing.assert_allclose(s_steps[key].m2, state.m2, rtol=1e-9)


def test_rerun_ingests_nothing(archive: Archive, settings: Settings) -> None:
    folder = str(archive.shots[0].paths["dng"].parent)
    ingest([folder], settings)
    before = _states(settings)
    again = ingest([folder], settings)
    assert (again.ingested, again.failed, again.duplicates) == (0, 0, 0)
    assert again.unchanged == 2 * len(archive.shots)
    after = _states(settings)
    for key, state in before.items():
        assert after[key].n == state.n
        np.testing.assert_array_equal(after[key].mean, state.mean)


def test_raw_and_jpeg_of_one_shot_feed_both_sources_of_one_camera(archive: Archive, settings: Settings) -> None:
    ingest([str(archive.shots[0].paths["dng"].parent)], settings)
    with Storage(settings, create=False) as store:
        cameras = store.catalog.cameras()
        groups = store.catalog.groups()
    assert [(c.make, c.model, c.serial) for c in cameras] == [("Simcam", "T100", "TEST0001")]
    assert sorted({(g.source, g.channels, g.bits, g.pattern) for g in groups}) == [
        ("raw", 1, 16, "RGGB"),
        ("rgb", 3, 8, None),
    ]
    for source in ("raw", "rgb"):
        assert sum(g.n for g in groups if g.source == source) == len(archive.shots)
    # kept apart by exposure class: long exposures (dark weight >= 0.5 s at ISO 100) and the rest
    long = {s.index for s in archive.shots if s.exposure_time * s.iso / 100 >= 0.5}
    by_class = {g.exposure: g.n for g in groups if g.source == "raw"}
    assert by_class == {k: v for k, v in {"long": len(long), "short": len(archive.shots) - len(long)}.items() if v}
    raw = next(g for g in groups if g.source == "raw")
    assert (raw.black_level, raw.white_level) == (512.0, 16383.0)


def test_portrait_tagged_jpeg_stays_in_sensor_orientation(archive: Archive, settings: Settings) -> None:
    portrait = [s for s in archive.shots if s.orientation == 6]
    assert portrait, "the fixture should contain portrait-tagged shots"
    ingest([str(s.paths["jpg"]) for s in archive.shots], settings)
    with Storage(settings, create=False) as store:
        groups = store.catalog.groups()
    # one geometry: the rotated tag did not rotate the array
    assert {(g.height, g.width) for g in groups} == {(200, 300)}
    assert sum(g.n for g in groups) == len(archive.shots)


def test_other_geometry_and_unknown_camera_get_their_own_groups(tmp_path: Path, settings: Settings) -> None:
    small = CameraSpec(make="Simcam", model="T100", serial="TEST0001", height=100, width=150)
    write_archive(tmp_path / "small", small, [], shots=3, formats=("jpg",), seed=1)
    write_archive(tmp_path / "noexif", CameraSpec(height=60, width=80), [], shots=3, formats=("jpg",), exif=False)
    events = []
    report = ingest([str(tmp_path / "small"), str(tmp_path / "noexif")], settings, on_event=events.append)
    assert report.ingested == 6
    with Storage(settings, create=False) as store:
        cams = {c.key: c for c in store.catalog.cameras()}
        groups = store.catalog.groups()
    assert "unknown|80x60" in cams and cams["unknown|80x60"].make is None
    assert {(g.width, g.height) for g in groups} == {(150, 100), (80, 60)}
    assert any(e.kind == "notice" and "without camera EXIF" in e.text for e in events)


def test_same_content_under_another_path_is_a_duplicate(
    archive: Archive, tmp_path: Path, settings: Settings
) -> None:
    src = archive.shots[0].paths["jpg"]
    (tmp_path / "x").mkdir()
    shutil.copy2(src, tmp_path / "x" / "copy.jpg")
    shutil.copy2(src, tmp_path / "x" / "orig.jpg")
    first = ingest([str(tmp_path / "x")], settings)
    assert (first.ingested, first.duplicates) == (1, 1)
    # a later copy elsewhere is a duplicate of what the catalog already counted
    (tmp_path / "y").mkdir()
    shutil.copy2(src, tmp_path / "y" / "third.jpg")
    later = ingest([str(tmp_path / "y")], settings)
    assert (later.ingested, later.duplicates) == (0, 1)
    with Storage(settings, create=False) as store:
        rows = {Path(f.path).name: f for f in store.catalog.files()}
        (group,) = store.catalog.groups()
    assert rows["copy.jpg"].status == INGESTED
    assert rows["orig.jpg"].status == rows["third.jpg"].status == DUPLICATE
    assert "copy.jpg" in (rows["third.jpg"].reason or "")
    assert group.n == 1


def test_catalog_records_capture_facts(archive: Archive, settings: Settings) -> None:
    shot = archive.shots[3]
    ingest([str(p) for p in shot.paths.values()], settings)
    with Storage(settings, create=False) as store:
        rows = store.catalog.files()
    assert len(rows) == 2
    for row in rows:
        assert row.status == INGESTED and row.hash and len(row.hash) == 64
        assert row.capture_time == shot.capture_time
        assert row.iso == shot.iso
        assert abs((row.exposure_time or 0) - shot.exposure_time) <= 0.01 * shot.exposure_time
        assert (row.height, row.width) == (200, 300)


def test_png_and_16_bit_tiff_keep_their_stored_pixels(tmp_path: Path, settings: Settings) -> None:
    import tifffile
    from PIL import Image

    camera = CameraSpec(make="Simcam", model="P1", serial="PNGTIF", height=60, width=90)
    archive = write_archive(tmp_path / "photos", camera, [], shots=3, formats=("png", "tif"), seed=5)
    report = ingest([str(tmp_path / "photos")], settings)
    assert report.ingested == 6
    states = merged_states(settings)
    assert sorted(key.split("/")[-1] for key in states) == ["16", "8"]  # PNG and TIFF never share a state
    (tif,) = (st for key, st in states.items() if key.endswith("/16"))
    (png,) = (st for key, st in states.items() if key.endswith("/8"))
    tif_frames = np.stack([tifffile.imread(s.paths["tif"]) for s in archive.shots]).astype(np.float64)
    png_frames = np.stack([np.asarray(Image.open(s.paths["png"])) for s in archive.shots]).astype(np.float64)
    assert tif_frames.max() > 255  # really 16-bit data
    np.testing.assert_allclose(tif.mean, tif_frames.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(png.mean, png_frames.mean(axis=0), rtol=1e-12)


def test_glob_patterns_and_a_pattern_that_matches_nothing(archive: Archive, settings: Settings) -> None:
    folder = archive.shots[0].paths["jpg"].parent
    report = ingest(
        [f"{folder}/*_0000[0-4].jpg", f"{folder.parent}/**/T100_0001?.dng", f"{folder}/*.nef"], settings
    )
    assert report.ingested == 5 + 10 and report.failed == 1
    with Storage(settings, create=False) as store:
        failed = store.catalog.files("failed")
    assert (
        len(failed) == 1
        and failed[0].path.endswith("*.nef")
        and failed[0].reason == "no file matches this pattern"
    )


def test_groups_of_one_geometry_each_get_exactly_their_own_frames(tmp_path: Path) -> None:
    # Two years, short and long exposures, RAW and JPEG: groups of one geometry share the decode ring and the
    # integer sums within a run, and each group's state must still hold exactly its own frames.
    camera = CameraSpec(make="Simcam", model="Y2", serial="YEARS001", height=48, width=64)
    write_archive(
        tmp_path / "photos",
        camera,
        [],
        shots=14,
        formats=("dng", "jpg"),
        seed=11,
        interval=dt.timedelta(days=61),
        dark_frames={2, 3, 9},
    )
    settings = make_settings(tmp_path / "store", max_batch_frames=3, commit_seconds=0.0)
    report = ingest([str(tmp_path / "photos")], settings)
    assert report.ingested == 28
    with Storage(settings, create=False) as store:
        groups = store.catalog.groups()
        assert {(g.source, g.exposure) for g in groups} == {
            (s, e) for s in ("raw", "rgb") for e in ("short", "long")
        }
        assert len({g.period for g in groups}) == 3  # 14 shots 61 days apart span three calendar years
        for group in groups:
            paths = [Path(p.path) for p in store.catalog.photos([group.id])]
            frames = _raw_frames(paths) if group.source == "raw" else _jpeg_frames(paths)
            state = store.state.read(group.id, group.generation, group.n)
            assert state.n == len(frames) > 0
            mean, var = stats.finalize(state)
            np.testing.assert_allclose(mean, frames.astype(np.float64).mean(axis=0), rtol=1e-12)
            np.testing.assert_allclose(var, frames.astype(np.float64).var(axis=0), rtol=1e-9, atol=1e-9)


def test_full_sums_commit_first_and_every_commit_counts_exactly_its_files(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sums that hold 5 frames and batches of 4: the second batch finds no room and must commit first, before
    # its files' rows join the commit. After every commit the catalog's ingested files and the state agree.
    monkeypatch.setattr(stats, "LIMIT8", 5)
    monkeypatch.setattr(stats, "LIMIT16", 5)
    seen: list[tuple[int, int]] = []
    commit = _Ingest.commit

    def checked(self: _Ingest, group: Group, sums: stats.Sums, pending: list[dict[str, object]]) -> None:
        commit(self, group, sums, pending)
        files = [f for f in self.store.catalog.files(INGESTED) if f.group_id == group.id]
        seen.append((len(files), group.n))

    monkeypatch.setattr(_Ingest, "commit", checked)
    settings = make_settings(tmp_path / "store", max_batch_frames=4, commit_seconds=1e9)
    report = ingest([str(p) for s in archive.shots for p in s.paths.values()], settings)
    assert report.ingested == 2 * len(archive.shots)
    assert len(seen) > 2 * len(archive.shots) / 5  # a commit whenever the sums were full, per group
    assert all(files == n for files, n in seen), seen
    _close_to_frames(settings, archive)


def _close_to_frames(settings: Settings, archive: Archive) -> None:
    states = _states(settings)
    raw = next(s for k, s in states.items() if "/raw/" in k)
    rgb = next(s for k, s in states.items() if "/rgb/" in k)
    for state, frames in (
        (raw, _raw_frames([s.paths["dng"] for s in archive.shots])),
        (rgb, _jpeg_frames([s.paths["jpg"] for s in archive.shots])),
    ):
        mean, var = stats.finalize(state)
        np.testing.assert_allclose(mean, frames.astype(np.float64).mean(axis=0), rtol=1e-9)
        np.testing.assert_allclose(var, frames.astype(np.float64).var(axis=0), rtol=1e-9, atol=1e-9)
