"""Bad input: each file gets a one-line reason and a catalog row; the run goes on; nothing stored changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpstore.catalog import FAILED, INGESTED, SKIPPED
from hpstore.errors import StoreError
from hpstore.ingest import Event, ingest
from hpstore.settings import Settings
from hpstore.simulator import Archive, write_corrupt_files
from hpstore.store import Store

from .conftest import hpstore_unprivileged, make_settings, merged_states


def test_bad_files_are_recorded_and_the_rest_is_ingested(
    archive: Archive, tmp_path: Path, settings: Settings
) -> None:
    bad = write_corrupt_files(tmp_path / "bad")
    good = [str(p) for p in archive.shots[0].paths.values()]
    events: list[Event] = []
    report = ingest(
        [str(tmp_path / "bad"), *good, str(tmp_path / "missing" / "x.jpg")], settings, on_event=events.append
    )
    with Store(settings, create=False) as store:
        rows = {f.path: f for f in store.catalog.files()}

    def row(name: str):  # type: ignore[no-untyped-def]
        return next(r for p, r in rows.items() if p.endswith(name))

    assert row("empty.jpg").status == FAILED and "empty" in (row("empty.jpg").reason or "")
    assert row("text.jpg").status == FAILED and "not a JPEG" in (row("text.jpg").reason or "")
    assert row("truncated.jpg").status == FAILED
    assert row("truncated.dng").status == FAILED
    assert row("notes.txt").status == SKIPPED and "unsupported" in (row("notes.txt").reason or "")
    assert row("x.jpg").status == FAILED and "no such file" in (row("x.jpg").reason or "")
    # the non-UTF-8 name is a valid JPEG: ingested, and its name stored readably
    odd = row("\\xff.jpg")
    assert odd.status == INGESTED
    assert report.ingested == 3 and report.failed == 5 and report.skipped == 1
    problems = [e for e in events if e.kind == "problem"]
    assert len(problems) == 6 and all("\n" not in e.text and e.text for e in problems)
    assert bad["non_utf8.jpg"].exists()


def test_bad_files_do_not_change_what_is_stored(archive: Archive, tmp_path: Path, settings: Settings) -> None:
    good = [str(s.paths["dng"]) for s in archive.shots[:5]]
    ingest(good, settings)
    (before,) = merged_states(settings).values()
    bad = write_corrupt_files(tmp_path / "bad")
    report = ingest([str(p) for p in bad.values()], settings)
    assert report.failed >= 4
    (after,) = (st for key, st in merged_states(settings).items() if "/raw/" in key)
    assert after.n == before.n == 5
    np.testing.assert_array_equal(after.mean, before.mean)


def test_unreadable_file_is_failed(archive: Archive, tmp_path: Path) -> None:
    target = tmp_path / "locked.jpg"
    target.write_bytes(archive.shots[0].paths["jpg"].read_bytes())
    target.chmod(0)
    store = tmp_path / "store"
    out = hpstore_unprivileged("--store", str(store), "ingest", str(target), str(archive.shots[1].paths["jpg"]))
    assert out.returncode == 0, out.stderr
    assert "locked.jpg: cannot read: Permission denied" in out.stderr
    assert "ingested 1, duplicates 0, failed 1" in out.stdout


def test_other_size_in_a_known_group_name_goes_to_its_own_group(
    archive: Archive, tmp_path: Path, settings: Settings
) -> None:
    # A JPEG with the camera's EXIF but cropped pixels must not be mixed into the full-size state.
    from PIL import Image

    src = archive.shots[0].paths["jpg"]
    with Image.open(src) as im:
        exif = im.getexif()
        im.crop((0, 0, 100, 80)).save(tmp_path / "crop.jpg", exif=exif.tobytes())
    ingest([str(src), str(tmp_path / "crop.jpg")], settings)
    with Store(settings, create=False) as store:
        groups = store.catalog.groups()
    assert sorted((g.width, g.height, g.n) for g in groups) == [(100, 80, 1), (300, 200, 1)]


def test_store_that_cannot_be_created_says_why(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot create store"):
        ingest([str(tmp_path)], make_settings(blocker / "store"))


def test_read_only_store_refuses_writes_but_stays_readable(archive: Archive, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = hpstore_unprivileged("--store", str(store), "ingest", str(archive.shots[0].paths["jpg"]))
    assert first.returncode == 0, first.stderr
    before = hpstore_unprivileged("--store", str(store), "query", "--format", "json", "--min-score", "0")
    for path in [store, *store.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        out = hpstore_unprivileged("--store", str(store), "ingest", str(archive.shots[1].paths["jpg"]))
        assert out.returncode == 1 and "not writable" in out.stderr and "Traceback" not in out.stderr
        after = hpstore_unprivileged("--store", str(store), "query", "--format", "json", "--min-score", "0")
        assert after.returncode == 0, after.stderr
        assert after.stdout == before.stdout
    finally:
        for path in [store, *store.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
