"""The time axis (issue 5) on a simulated camera life: 4 years of RAW photos in sessions, defects appearing
at known dates, ingested in shuffled order in three runs."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from hpstore.commands.compact import compact
from hpstore.commands.history import history, timeline
from hpstore.commands.query import query
from hpstore.errors import StoreError
from hpstore.ingest.pipeline import ingest
from hpstore.settings import Settings
from hpstore.store.storage import Storage
from hpstore.testing.lifetime import Aging, onset_error, write_life
from hpstore.testing.simulator import Archive

from .conftest import hpstore_command, make_settings

SHOTS = 120
Life = tuple[Archive, tuple[Aging, ...], Settings]


@pytest.fixture(scope="module")
def life(tmp_path_factory: pytest.TempPathFactory) -> Life:
    root = tmp_path_factory.mktemp("life")
    archive, aging = write_life(root / "photos", shots=SHOTS)
    files = [str(s.paths["dng"]) for s in archive.shots]
    random.Random(5).shuffle(files)
    settings = make_settings(root / "store")
    for part in (files[:50], files[50:90], files[90:]):
        ingest(part, settings)
    return archive, aging, settings


def _match(rows: list[dict], aging: Aging) -> dict | None:
    d = aging.defect
    return next((r for r in rows if (r["row"], r["col"]) == (d.row, d.col)), None)


def _copy_store_of(archive: Archive, tmp: Path, keep: object) -> Settings:
    """A fresh store that ingested only the photos ``keep(capture_time)`` accepts."""
    settings = make_settings(tmp)
    ingest([str(s.paths["dng"]) for s in archive.shots if keep(s.capture_time)], settings)  # type: ignore[operator]
    return settings


def test_first_seen_falls_within_three_photos_of_each_onset(
    life: Life,
) -> None:
    archive, aging, settings = life
    rows = query(settings, source="raw", top=20)
    errors = {}
    for a in aging:
        row = _match(rows, a)
        if a.grade == "weak":
            continue
        if a.grade == "strong":
            assert row is not None, f"strong {a.defect} not in the top 20"
        if row is None:
            continue
        errors[f"{a.defect.kind}@{a.defect.onset}"] = onset_error(archive, a.defect, row["first_seen"])
        # last_seen: these defects never heal, so they are seen in the last photos that can show them.
        assert row["last_seen"] >= archive.shots[-12].capture_time.isoformat()
    assert len(errors) >= 6, errors  # of 7 strong and medium defects
    assert all(e is not None and 0 <= e <= 3 for e in errors.values()), errors


def test_a_defect_that_appeared_late_gets_the_class_it_has_since(
    life: Life,
) -> None:
    _, aging, settings = life
    rows = query(settings, source="raw", top=20)
    stuck = next(a for a in aging if a.defect.kind == "stuck")
    assert stuck.defect.onset > SHOTS // 3
    found = _match(rows, stuck)
    assert found is not None and found["kind"] == "stuck", found


def _comparable(rows: list[dict]) -> list[tuple]:
    return [(r["row"], r["col"], r["channel"], r["kind"], r["n"], r["first_seen"], r["last_seen"]) for r in rows]


@pytest.mark.parametrize(
    ("since", "until"),
    [(None, "2020"), (None, "2021-06-30"), ("2021-03-15", None)],
    ids=["until-period-end", "until-mid-period", "since-mid-period"],
)
def test_window_ranks_like_a_store_of_only_those_photos(
    life: Life, tmp_path: Path, since: str | None, until: str | None
) -> None:
    archive, _, settings = life
    start = dt.datetime.fromisoformat(since) if since else dt.datetime.min
    end = dt.datetime(2021, 1, 1) if until == "2020" else dt.datetime(2021, 7, 1) if until else dt.datetime.max
    only = _copy_store_of(archive, tmp_path / "only", lambda t: start <= t < end)
    windowed = query(settings, source="raw", top=20, since=since, until=until)
    reference = query(only, source="raw", top=20)
    assert windowed, "the window holds defects"
    assert _comparable(windowed) == _comparable(reference)
    for a, b in zip(windowed, reference, strict=True):
        assert a["score"] == pytest.approx(b["score"], rel=1e-9)
        assert a["mean"] == pytest.approx(b["mean"], rel=1e-9)
    full = query(settings, source="raw", top=20)
    assert _comparable(windowed) != _comparable(full)  # the window changed the answer


def test_window_through_a_period_whose_photos_are_gone_says_which(life: Life, tmp_path: Path) -> None:
    archive, _, settings = life
    copy = tmp_path / "store"
    shutil.copytree(settings.store, copy)
    with sqlite3.connect(copy / "catalog.sqlite") as db:
        db.execute("DELETE FROM rankings")  # other tests of this module may have queried the same window
    moved = next(s for s in archive.shots if s.capture_time.year == 2021).paths["dng"]
    hidden = moved.with_suffix(".hidden")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*hpstore_command(), "--store", str(copy), "query", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300)

    moved.rename(hidden)
    try:
        done = run("--until", "2021-06-30")
        whole_year = run("--until", "2021", "--format", "json")  # a window on a period boundary: no photo read
        hidden.rename(moved)
        kept = run("--until", "2021-06-30", "--format", "json")  # computed with the photo back, and kept
        moved.rename(hidden)
        again = run("--until", "2021-06-30", "--format", "json")  # the kept answer needs no photo
    finally:
        if hidden.exists():
            hidden.rename(moved)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert moved.name in done.stderr and "until 2021" in done.stderr
    assert whole_year.returncode == 0, whole_year.stderr
    assert {r["camera"] for r in json.loads(whole_year.stdout)} == {str(archive.camera.serial)}
    assert kept.returncode == 0 and again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(kept.stdout) != []


def test_history_shows_a_defect_switch_on(life: Life) -> None:
    archive, aging, settings = life
    stuck = next(a for a in aging if a.defect.kind == "stuck").defect
    onset = archive.shots[stuck.onset].capture_time
    pixel = f"{stuck.row},{stuck.col}"
    quarters = history(settings, camera="LIFE0001", pixel=pixel, period="quarter")
    assert sum(r["photos"] for r in quarters) == SHOTS
    for r in quarters:
        start, end = _quarter(r["period"])
        if end <= onset:
            assert r["stood_out"] == 0, r
        elif start >= onset and r["photos"] >= 3:
            assert r["stood_out"] >= r["photos"] // 2, r
        assert r["z_mean"] is None  # the store keeps years: no dense statistics per quarter
    years = {r["period"]: r for r in history(settings, camera="LIFE0001", pixel=pixel, period="year")}
    assert abs(years[str(onset.year - 1)]["z_mean"]) < 6
    assert years[str(onset.year + 1)]["z_mean"] > 6
    assert years[str(onset.year + 1)]["std"] < years[str(onset.year + 1)]["neighbour_std"] / 3  # frozen


def _quarter(label: str) -> tuple[dt.datetime, dt.datetime]:
    year, q = int(label[:4]), int(label[-1])
    start = dt.datetime(year, 3 * q - 2, 1)
    end = dt.datetime(year + 1, 1, 1) if q == 4 else dt.datetime(year, 3 * q + 1, 1)
    return start, end


def test_timeline_counts_defects_by_period_and_draws_a_chart(life: Life, tmp_path: Path) -> None:
    archive, aging, settings = life
    result = timeline(settings, camera="LIFE0001", sensor_mm=(6.4, 4.8))
    assert [p["period"] for p in result["periods"]] == ["2019", "2020", "2021", "2022"]
    assert sum(p["photos"] for p in result["periods"]) == SHOTS
    present = [p["present"] for p in result["periods"]]
    assert present == sorted(present) and present[-1] > present[0]  # none of these defects heals
    # one definition of a defect: the summary, the last period and the ranking count the same entries
    assert (
        present[-1]
        == result["defects"]
        == len(query(settings, camera="LIFE0001", source=result["source"], top=500))
    )
    assert result["at_start"] <= present[0]
    dated_new = sum(y["new"] for y in result["years"])
    assert dated_new + result["at_start"] == sum(p["new"] for p in result["periods"])
    appeared = sum(1 for a in aging if a.defect.onset > 10 and a.grade != "weak")
    assert dated_new >= appeared - 1
    megapixels = archive.camera.height * archive.camera.width / 1e6
    assert result["new_per_year_per_megapixel"] == pytest.approx(result["new_per_year"] / megapixels)
    assert result["new_per_year_per_mm2"] == pytest.approx(result["new_per_year"] / (6.4 * 4.8))
    # Without --sensor-size the sensor's size comes from EXIF's focal-plane resolution (4 um pixels here).
    known = timeline(settings, camera="LIFE0001")
    pitch_mm = (archive.camera.pixel_pitch_um or 0) / 1000
    assert known["sensor_from"] == "exif"
    assert known["sensor_mm"] == pytest.approx([archive.camera.width * pitch_mm, archive.camera.height * pitch_mm])

    chart = tmp_path / "timeline.png"
    done = subprocess.run(
        [
            *hpstore_command(),
            "--store",
            str(settings.store),
            "timeline",
            "--camera",
            "LIFE0001",
            "--plot",
            str(chart),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "per year per MP" in done.stdout
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.size[0] > 400


def test_month_periods_answer_month_windows_from_the_store_alone(life: Life, tmp_path: Path) -> None:
    archive, _, _ = life
    photos = tmp_path / "photos"
    photos.mkdir()
    early = [s for s in archive.shots if s.capture_time < dt.datetime(2020, 7, 1)]
    for shot in early:
        shutil.copy(shot.paths["dng"], photos)
    settings = make_settings(tmp_path / "store", period="month")
    ingest([str(photos)], settings)
    with Storage(settings, create=False) as store:
        labels = {g.period for g in store.catalog.groups()}
    assert all(len(label) == 7 for label in labels) and len(labels) > 6
    before = query(settings, until="2020-03")
    shutil.rmtree(photos)  # month boundaries need no photo from disk
    assert query(settings, until="2020-03") == before


def test_compact_merges_old_periods_and_keeps_answers(life: Life, tmp_path: Path) -> None:
    _, _, settings = life
    copy = make_settings(tmp_path / "store")
    shutil.copytree(settings.store, copy.store)
    before = query(copy, source="raw", top=20)
    with Storage(copy, create=False) as store:
        groups_before = len(store.catalog.groups())
    planned = compact(copy, before="2021", dry_run=True)
    assert planned.merged and planned.bytes_after == planned.bytes_before
    with Storage(copy, create=False) as store:
        assert len(store.catalog.groups()) == groups_before  # a dry run changes nothing
    with pytest.raises(StoreError):
        compact(make_settings(tmp_path / "nothing"), before="2021")
    assert not (tmp_path / "nothing").exists()  # and no store is made where there was none
    done = subprocess.run(
        [*hpstore_command(), "--store", str(copy.store), "compact", "--before", "2021", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {m["into"] for m in report["merged"]} == {"2019..2020"}
    assert report["bytes_after"] < report["bytes_before"]
    with Storage(copy, create=False) as store:
        groups = store.catalog.groups()
    assert len(groups) == groups_before - len(report["merged"])
    after = query(copy, source="raw", top=20)
    assert _comparable(after) == _comparable(before)  # first_seen and last_seen too
    for a, b in zip(after, before, strict=True):
        assert a["score"] == pytest.approx(b["score"], rel=1e-9)
    # A window on the merged span's end needs no photo from disk; one inside it re-reads them.
    merged_span = query(copy, source="raw", until="2020")
    assert _comparable(merged_span) == _comparable(query(settings, source="raw", until="2020"))
    inside = query(copy, source="raw", until="2019")
    reference = query(settings, source="raw", until="2019")
    assert _comparable(inside) == _comparable(reference)


def test_a_store_from_before_periods_still_answers(archive: Archive, tmp_path: Path) -> None:
    """Groups of catalog revision 0002 hold every date (period ``all``) and their photos no standouts."""
    settings = make_settings(tmp_path / "store")
    ingest([str(s.paths["dng"]) for s in archive.shots], settings)
    fresh = query(settings, source="raw", top=10)
    with sqlite3.connect(settings.store / "catalog.sqlite") as db:
        db.execute("UPDATE groups SET period = 'all'")
        db.execute("UPDATE files SET standouts = NULL")
    legacy = query(settings, source="raw", top=10)
    # Without per-photo evidence, candidates the photos do not set apart one by one cannot be confirmed:
    # the old store lists the fresh one's entries but those.
    confirmed = [(r["row"], r["col"], r["kind"]) for r in fresh if not r["unconfirmed"]]
    assert [(r["row"], r["col"], r["kind"]) for r in legacy] == confirmed[: len(legacy)]
    assert len(legacy) >= len(confirmed) - 1
    assert all(r["first_seen"] is None for r in legacy)  # no per-photo evidence for old photos
    # A window re-reads the old photos from disk and equals a store of only those photos.
    middle = archive.shots[len(archive.shots) // 2].capture_time
    until = middle.date().isoformat()
    only = _copy_store_of(archive, tmp_path / "only", lambda t: t.date() <= middle.date())
    windowed = [(r["row"], r["col"], r["kind"], r["n"]) for r in query(settings, source="raw", until=until)]
    expected = [(r["row"], r["col"], r["kind"], r["n"]) for r in query(only, source="raw") if not r["unconfirmed"]]
    assert windowed == expected[: len(windowed)] and len(windowed) >= len(expected) - 1
