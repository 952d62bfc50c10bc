"""Stores an older reader made: ``check`` finds the photos it filed under the wrong camera, ``check --repair``
moves them and rebuilds the states, crash-safe, naming the photos it cannot read again."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hpstore.commands.check import check
from hpstore.commands.query import cameras
from hpstore.ingest import pipeline as ingest_module
from hpstore.ingest.pipeline import ingest
from hpstore.io import READER, metadata
from hpstore.settings import Settings
from hpstore.store.storage import Storage
from hpstore.testing.simulator import CameraSpec, plant_defects, write_archive

from .conftest import hpstore_command, make_settings, merged_states

SERIALS = ("2001f1c0", "2002a7b1")


@pytest.fixture(scope="module")
def bodies(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two Nikon D70 bodies that keep their serial only in the MakerNote; 5 RAW+JPEG shots each."""
    root = tmp_path_factory.mktemp("bodies")
    folders = []
    for i, serial in enumerate(SERIALS):
        camera = CameraSpec(
            make="NIKON CORPORATION", model="NIKON D70", serial=serial, height=64, width=96, serial_in="makernote"
        )
        defects = plant_defects(camera, np.random.default_rng(20 + i), hot=2, stuck=1, dead=0)
        write_archive(root / serial, camera, defects, 5, formats=("dng", "jpg"), seed=20 + i)
        folders.append(root / serial)
    return folders


def _old_reader_ingest(monkeypatch: pytest.MonkeyPatch, folders: list[Path], settings: Settings) -> None:
    """Ingest as the reader before version 2 did: serials from the EXIF and DNG tags only, no MakerNote,
    and rows without a reader version."""
    with monkeypatch.context() as patch:
        patch.setattr(metadata, "SERIAL_KEYS", metadata.SERIAL_KEYS[:2])
        patch.setattr(metadata, "_NOT_BODY", re.compile(".*"))  # no MakerNote fallback either
        patch.setattr(ingest_module, "READER", 1)
        ingest([str(f) for f in folders], settings)


@pytest.fixture
def old_store(monkeypatch: pytest.MonkeyPatch, bodies: list[Path], tmp_path: Path) -> Iterator[Settings]:
    settings = make_settings(tmp_path / "old")
    _old_reader_ingest(monkeypatch, bodies, settings)
    ((camera),) = cameras(settings)
    assert camera["serial"] is None and camera["photos"] == 20  # both bodies in one camera
    yield settings


def _fresh(folder: Path, tmp_path: Path) -> dict[str, np.ndarray]:
    settings = make_settings(tmp_path / f"fresh-{folder.name}")
    ingest([str(folder)], settings)
    return {key.split("/", 1)[1]: state for key, state in merged_states(settings).items()}


def _by_serial(settings: Settings) -> dict[str, dict[str, object]]:
    found = {c["id"]: c["serial"] for c in cameras(settings)}
    out: dict[str, dict[str, object]] = {}
    for key, state in merged_states(settings).items():
        camera_id, rest = key.split("/", 1)
        out.setdefault(str(found[int(camera_id)]), {})[rest] = state
    return out


def test_check_names_the_misfiled_photos_and_repair_moves_them(
    old_store: Settings, bodies: list[Path], tmp_path: Path
) -> None:
    report = check(old_store)
    assert not report.ok
    assert len(report.problems) == 2  # one line per (old camera, new camera)
    assert all("10 photo(s) filed under NIKON CORPORATION NIKON D70 belong to" in p for p in report.problems)
    assert any(f"#{SERIALS[0]}" in p for p in report.problems) and any(
        f"#{SERIALS[1]}" in p for p in report.problems
    )

    repaired = check(old_store, repair=True)
    assert repaired.ok, repaired.problems
    assert sorted((c["serial"], c["photos"]) for c in cameras(old_store)) == [(SERIALS[0], 10), (SERIALS[1], 10)]
    states = _by_serial(old_store)
    for folder in bodies:
        fresh = _fresh(folder, tmp_path)
        mine = states[folder.name]
        assert sorted(mine) == sorted(fresh)
        for key, state in fresh.items():
            assert mine[key].n == state.n
            np.testing.assert_allclose(mine[key].mean, state.mean, rtol=0, atol=1e-9)
            np.testing.assert_allclose(mine[key].m2, state.m2, rtol=1e-9, atol=1e-6)
    again = check(old_store)
    assert again.ok and not again.repaired
    with Storage(old_store, create=False) as store:
        assert {f.reader for f in store.catalog.files()} == {READER}
        assert not store.garbage()


def test_repair_names_a_photo_that_is_gone_and_leaves_it_where_it_was(
    old_store: Settings, bodies: list[Path], tmp_path: Path
) -> None:
    gone = tmp_path / "moved-away.dng"
    victim = sorted(bodies[0].glob("*.dng"))[0]
    os.rename(victim, gone)
    try:
        repaired = check(old_store, repair=True)
    finally:
        os.rename(gone, victim)
    assert any(victim.name in p and "stays with" in p for p in repaired.problems)
    found = sorted((c["serial"] or "", c["photos"]) for c in cameras(old_store))
    assert found == [("", 1), (SERIALS[0], 9), (SERIALS[1], 10)]
    # What stayed is exactly the state of that one photo: the others' frames were taken out.
    states = _by_serial(old_store)
    (raw,) = [state for key, state in states["None"].items() if "/raw/" in f"/{key}"]
    assert raw.n == 1 and float(np.abs(raw.m2).max()) < 1e-6
    # With the photo back, a second repair moves it too.
    assert check(old_store, repair=True).ok
    assert sorted((c["serial"], c["photos"]) for c in cameras(old_store)) == [(SERIALS[0], 10), (SERIALS[1], 10)]


@pytest.mark.parametrize("point", ["state-array:2", "catalog-open:1"])
def test_a_repair_killed_midway_leaves_the_old_store_and_a_rerun_finishes_it(
    old_store: Settings, point: str
) -> None:
    before = merged_states(old_store)
    env = {**os.environ, "HPSTORE_CRASH_AT": point}
    killed = subprocess.run(
        [*hpstore_command(), "--store", str(old_store.store), "check", "--repair"], env=env, capture_output=True
    )
    assert killed.returncode == -9
    after_kill = merged_states(old_store)
    assert sorted(after_kill) == sorted(before)
    for key, state in before.items():
        np.testing.assert_array_equal(after_kill[key].mean, state.mean)
    rerun = subprocess.run(
        [*hpstore_command(), "--store", str(old_store.store), "check", "--repair"], capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert sorted((c["serial"], c["photos"]) for c in cameras(old_store)) == [(SERIALS[0], 10), (SERIALS[1], 10)]
    assert check(old_store).ok
