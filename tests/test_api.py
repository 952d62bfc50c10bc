"""The Python API: a script that knows only ``hpstore.open`` ingests, lists cameras and queries typed defects."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hpstore.cli.main import app
from typer.testing import CliRunner

import hpstore
from hpstore.errors import BadArgument
from hpstore.testing.simulator import Archive


@pytest.fixture(scope="module")
def opened(archive: Archive, tmp_path_factory: pytest.TempPathFactory) -> hpstore.Store:
    store = hpstore.open(tmp_path_factory.mktemp("api") / "store", workers=2)
    report = store.ingest([archive.shots[0].paths["dng"].parent])
    assert isinstance(report, hpstore.IngestReport)
    assert report.ingested == 2 * len(archive.shots) and report.failed == 0
    return store


def test_a_script_ingests_lists_cameras_and_queries_typed_defects(archive: Archive, opened: hpstore.Store) -> None:
    (camera,) = opened.cameras()
    assert isinstance(camera, hpstore.Camera)
    assert (camera.make, camera.model, camera.serial) == ("Simcam", "T100", "TEST0001")
    assert set(camera.sources) == {hpstore.Source.RAW, hpstore.Source.RGB}
    assert camera.photos == 2 * len(archive.shots)
    assert camera.first_capture == min(s.capture_time for s in archive.shots)

    raw = opened.query(source=hpstore.Source.RAW, camera=camera)
    assert all(isinstance(d, hpstore.Defect) and d.source is hpstore.Source.RAW for d in raw)
    assert {(d.row, d.col) for d in raw} >= {(d.row, d.col) for d in archive.defects}
    planted = {(d.row, d.col): d.kind for d in archive.defects}
    assert all(d.kind is hpstore.Kind(planted[d.row, d.col]) for d in raw if (d.row, d.col) in planted)
    assert all(isinstance(d.first_seen, dt.datetime) for d in raw if (d.row, d.col) in planted)

    hot = opened.query(source="raw", kind=hpstore.Kind.HOT)
    assert hot and {d.kind for d in hot} == {hpstore.Kind.HOT}
    assert len(hot) == sum(k == "hot" for k in planted.values())


def test_records_print_as_the_cli_prints_them(archive: Archive, opened: hpstore.Store) -> None:
    args = ["--store", str(opened.path), "query", "--format", "json", "--top", "8"]
    printed = json.loads(CliRunner().invoke(app, args, catch_exceptions=False).stdout)
    assert [d.to_dict() for d in opened.query(top=8)] == printed
    again = [hpstore.Defect.from_dict(row) for row in printed]
    assert again == opened.query(top=8)

    files = opened.files(status=hpstore.Status.INGESTED)
    assert len(files) == 2 * len(archive.shots) and all(f.status is hpstore.Status.INGESTED for f in files)
    args = ["--store", str(opened.path), "files", "--format", "json"]
    assert json.loads(CliRunner().invoke(app, args, catch_exceptions=False).stdout) == [f.to_dict() for f in files]


def test_dates_and_pixels_are_typed(archive: Archive, opened: hpstore.Store) -> None:
    first = min(s.capture_time for s in archive.shots)
    # A date includes its whole day at both ends; text means the same.
    by_date = opened.query(since=first.date(), until=first.date(), source="raw")
    by_text = opened.query(since=first.date().isoformat(), until=first.date().isoformat(), source="raw")
    assert by_date == by_text
    everything = opened.query(until=dt.date(2100, 1, 1), source="raw")
    assert everything == opened.query(source="raw")

    d = archive.defects[0]
    (shown,) = opened.show("TEST0001", (d.row, d.col), source=hpstore.Source.RAW)
    assert (shown.row, shown.col, shown.kind, shown.likely_defect) == (d.row, d.col, hpstore.Kind(d.kind), True)
    assert shown.first_seen is not None and shown.first_seen <= shown.last_seen  # type: ignore[operator]
    history = opened.history("TEST0001", (d.row, d.col), period=hpstore.Period.YEAR)
    assert {h.source for h in history} == {hpstore.Source.RAW, hpstore.Source.RGB}
    assert sum(h.photos for h in history if h.source is hpstore.Source.RAW) == len(archive.shots)


def test_show_history_and_timeline_print_as_the_cli_prints_them(archive: Archive, opened: hpstore.Store) -> None:
    d = archive.defects[0]
    base = ["--store", str(opened.path)]

    def cli(*args: str) -> object:
        out = CliRunner().invoke(app, [*base, *args, "--format", "json"], catch_exceptions=False)
        return json.loads(out.stdout)

    pixel = f"{d.row},{d.col}"
    assert cli("show", "--camera", "TEST0001", "--pixel", pixel) == [
        r.to_dict() for r in opened.show("TEST0001", (d.row, d.col))
    ]
    assert cli("history", "--camera", "TEST0001", "--pixel", pixel, "--period", "month") == [
        r.to_dict() for r in opened.history("TEST0001", (d.row, d.col), period="month")
    ]
    timeline = opened.timeline("TEST0001")
    assert cli("timeline", "--camera", "TEST0001") == timeline.to_dict()
    assert timeline.source is hpstore.Source.RAW and timeline.defects >= len(archive.defects)
    assert sum(p.photos for p in timeline.periods) == len(archive.shots)
    assert all(isinstance(p, hpstore.TimelinePeriod) for p in timeline.periods)


def test_library_errors_name_arguments_not_command_line_flags(opened: hpstore.Store) -> None:
    for call in (
        lambda: opened.query(source="jpeg"),
        lambda: opened.query(kind="warmish"),
        lambda: opened.query(since="2021x07"),
        lambda: opened.files(status="lost"),
        lambda: opened.show("TEST0001", (-1, 3)),
    ):
        with pytest.raises(BadArgument) as err:
            call()
        assert "--" not in str(err.value), err.value
    with pytest.raises(BadArgument, match="not a date"):
        opened.query(since="2021x07")


def test_open_expands_home_and_import_stays_light(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    store = hpstore.open("~/photos-store")
    assert Path(store.path) == tmp_path / "photos-store"
    with pytest.raises(hpstore.HpstoreError, match="no hpstore store"):
        store.cameras()
    assert Path(hpstore.open(f"file://{tmp_path}/by%20url").path) == tmp_path / "by url"
    with pytest.raises(BadArgument, match="needs a server catalog"):
        hpstore.open("s3://bucket/store")
    with pytest.raises(BadArgument, match="needs a server catalog"):
        hpstore.open("s3://bucket/store", catalog=f"sqlite:///{tmp_path}/c.sqlite")
    with pytest.raises(BadArgument, match="ftp:// URLs are not supported"):
        hpstore.open("ftp://host/store")
    with pytest.raises(BadArgument, match="names no bucket"):
        hpstore.open("s3://", catalog="postgresql+psycopg://nobody@127.0.0.1:1/x")
    remote = hpstore.open("s3://bucket/store/", catalog="postgresql+psycopg://nobody@127.0.0.1:1/x")
    assert remote.location == "s3://bucket/store"
    code = "import sys, hpstore; print(sorted({'numpy', 'zarr', 'sqlalchemy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
