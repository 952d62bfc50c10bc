"""Bad input: each file gets a one-line reason and a catalog row; the run goes on; nothing stored changes."""

from __future__ import annotations

import datetime as dt
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hpstore.commands.query import query
from hpstore.errors import StoreError
from hpstore.ingest.pipeline import Event, ingest
from hpstore.settings import Settings
from hpstore.store.catalog import FAILED, INGESTED, SKIPPED
from hpstore.store.storage import Storage
from hpstore.testing.simulator import Archive, CameraSpec, plant_defects, write_archive, write_corrupt_files

from .conftest import hpstore_command, hpstore_unprivileged, make_settings, merged_states


def test_bad_files_are_recorded_and_the_rest_is_ingested(
    archive: Archive, tmp_path: Path, settings: Settings
) -> None:
    bad = write_corrupt_files(tmp_path / "bad")
    good = [str(p) for p in archive.shots[0].paths.values()]
    events: list[Event] = []
    report = ingest(
        [str(tmp_path / "bad"), *good, str(tmp_path / "missing" / "x.jpg")], settings, on_event=events.append
    )
    with Storage(settings, create=False) as store:
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
    with Storage(settings, create=False) as store:
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


def _lying_jpeg(path: Path, height: int, width: int, pad: int = 0) -> None:
    """A real little JPEG whose frame header (SOF0) is patched to claim ``height`` x ``width`` pixels."""
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (16, 16), (90, 120, 150)).save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    eoi = len(data) - 2
    path.write_bytes(bytes(data[:eoi]) + bytes(pad) + bytes(data[eoi:]))


def _peak_rss_mb(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run hpstore in a fresh interpreter whose only child it is; return the child's peak RSS in MB."""
    code = (
        "import resource, subprocess, sys; "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024); sys.exit(p.returncode)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *hpstore_command(), *args], env=env, capture_output=True, text=True
    )
    return float(done.stdout.strip().splitlines()[-1]), done


def test_lying_headers_are_refused_within_the_memory_budget(archive: Archive, tmp_path: Path) -> None:
    liars = tmp_path / "liars"
    liars.mkdir()
    for k in range(3):  # under 1 KB each, claiming 400 MP
        _lying_jpeg(liars / f"huge{k}.jpg", 20000, 20000)
    # A header the file's size allows (8000 x 8000 needs 125 KB of Huffman data at least): it is decoded,
    # within the budget, and fails on its missing data.
    _lying_jpeg(liars / "plausible.jpg", 8000, 8000, pad=130_000)
    budget = 256
    env = {**os.environ, "HPSTORE_BATCH_MB": str(budget), "HPSTORE_WORKERS": "2"}
    base, done = _peak_rss_mb(["--store", str(tmp_path / "s0"), "ingest", str(archive.shots[0].paths["jpg"])], env)
    assert done.returncode == 0, done.stderr
    peak, done = _peak_rss_mb(["--store", str(tmp_path / "s1"), "ingest", str(liars)], env)
    assert done.returncode == 0, done.stderr
    assert "ingested 0, duplicates 0, failed 4" in done.stdout
    for k in range(3):
        assert f"huge{k}.jpg: header claims 20000x20000 pixels, which" in done.stderr
    assert "plausible.jpg: cannot decode JPEG" in done.stderr
    assert peak < base + budget, (peak, base)


def test_a_frame_larger_than_the_budget_is_refused_with_the_setting_to_raise(tmp_path: Path) -> None:
    from PIL import Image

    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 2000), (10, 20, 30)).save(big)  # 18 MB decoded
    settings = make_settings(tmp_path / "store", batch_mb=8)
    events: list[Event] = []
    report = ingest([str(big)], settings, on_event=events.append)
    assert report.failed == 1
    (problem,) = [e for e in events if e.kind == "problem"]
    assert "HPSTORE_BATCH_MB" in problem.text and "17 MiB" in problem.text


def test_a_non_utf8_name_is_found_again_through_a_window(tmp_path: Path) -> None:
    camera = CameraSpec(height=64, width=96)
    defects = plant_defects(camera, np.random.default_rng(5), hot=2, stuck=1, dead=1)
    start = dt.datetime(2020, 1, 15)
    archive = write_archive(
        tmp_path / "made", camera, defects, 8, formats=("jpg",), start=start, interval=dt.timedelta(days=30)
    )
    folder = os.path.join(os.fsencode(tmp_path), b"Urlaub \xe4\xf6\xfc")  # Latin-1 bytes: not UTF-8
    os.mkdir(folder)
    early = []
    for shot in archive.shots:
        name = os.path.join(folder, f"Bild {shot.index} ".encode() + b"\xe4.JPG")
        os.rename(shot.paths["jpg"], name)
        if shot.capture_time < dt.datetime(2020, 5, 1):
            early.append(name)
    settings = make_settings(tmp_path / "store")
    report = ingest([os.fsdecode(folder)], settings)
    assert report.ingested == 8
    with Storage(settings, create=False) as store:
        rows = store.catalog.files()
    assert all(r.path_bytes is not None and os.path.exists(r.path_bytes) for r in rows)
    assert all("Urlaub \\xe4\\xf6\\xfc" in r.path for r in rows)  # shown escaped
    # --until cuts the year 2020: its photos up to April are read again from their byte paths.
    windowed = query(settings, until="2020-04-30", top=10, min_score=0)
    only = make_settings(tmp_path / "only")
    ingest([os.fsdecode(p) for p in early], only)
    reference = query(only, top=10, min_score=0)
    assert [(r["row"], r["col"], r["n"]) for r in windowed] == [(r["row"], r["col"], r["n"]) for r in reference]
    assert windowed[0]["n"] == 4


def test_a_store_inside_the_archive_is_not_ingested(archive: Archive, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for shot in archive.shots[:3]:
        (folder / shot.paths["jpg"].name).write_bytes(shot.paths["jpg"].read_bytes())
    settings = make_settings(folder)  # the store is the photo folder itself
    first = ingest([str(folder)], settings)
    second = ingest([str(folder)], settings)
    assert (first.ingested, first.skipped, second.ingested, second.skipped, second.unchanged) == (3, 0, 0, 0, 3)
