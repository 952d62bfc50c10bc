"""The command line, through Typer's runner and through the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hpstore.cli.main import app
from typer.testing import CliRunner

from hpstore.testing.simulator import Archive, write_corrupt_files

from .conftest import hpstore_command

runner = CliRunner()


def _run(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env, catch_exceptions=False)


def test_ingest_query_cameras_files(archive: Archive, tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    folder = str(archive.shots[0].paths["dng"].parent)
    result = _run("--store", store, "ingest", "--quiet", folder)
    assert result.exit_code == 0, result.output
    assert "ingested 60" in result.stdout
    again = _run("--store", store, "ingest", folder)
    assert again.exit_code == 0 and "nothing new to ingest" in again.stdout

    rows = json.loads(_run("--store", store, "query", "--top", "5", "--format", "json").stdout)
    assert len(rows) == 5 and rows[0]["score"] >= rows[-1]["score"]
    planted = {(d.row, d.col): d.kind for d in archive.defects}
    # The strongest entries are planted defects, seen in both the DNGs and the JPEGs.
    assert all((r["row"], r["col"]) in planted and r["source"] in ("raw", "rgb") for r in rows), rows
    assert all(planted[r["row"], r["col"]] == r["kind"] for r in rows if r["source"] == "raw"), rows
    assert all(r["camera"] == "TEST0001" and 0 < r["confidence"] <= 1 and r["n"] == 30 for r in rows)
    csv_out = _run("--store", store, "query", "--top", "3", "--format", "csv", "--source", "raw").stdout
    assert csv_out.splitlines()[0].startswith("camera,source,row,col") and len(csv_out.splitlines()) == 4

    cams = json.loads(_run("--store", store, "cameras", "--format", "json").stdout)
    assert [(c["make"], c["model"], c["serial"], c["photos"]) for c in cams] == [
        ("Simcam", "T100", "TEST0001", 60)
    ]
    assert cams[0]["first_capture"].startswith("2020-01-01") and sorted(cams[0]["sources"]) == ["raw", "rgb"]
    table = _run("--store", store, "cameras").stdout
    assert "TEST0001" in table and "first_capture" in table

    shown = _run("--store", store, "show", "--camera", "TEST0001", "--pixel", "10,10")
    assert (
        shown.exit_code == 0 and "TEST0001 raw 300x200 pixel 10,10" in shown.stdout and "around it" in shown.stdout
    )

    files = json.loads(_run("--store", store, "files", "--format", "json").stdout)
    assert len(files) == 60 and {(f["status"], f["reason"], f["camera"]) for f in files} == {
        ("ingested", None, "TEST0001")
    }
    assert sorted(Path(f["path"]).name for f in files) == sorted(
        p.name for shot in archive.shots for p in shot.paths.values()
    )


def test_bad_input_lines_and_failed_listing(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    write_corrupt_files(tmp_path / "bad")
    result = _run("--store", store, "ingest", str(tmp_path / "bad"), str(tmp_path / "nope"))
    assert result.exit_code == 0
    assert "Traceback" not in result.output
    assert "failed:" in result.stderr and "text.jpg: not a JPEG" in result.stderr
    failed = json.loads(_run("--store", store, "files", "--status", "failed", "--format", "json").stdout)
    assert {Path(f["path"]).name for f in failed} >= {"empty.jpg", "text.jpg", "truncated.jpg", "nope"}
    assert all(f["reason"] for f in failed)


def test_store_from_environment_and_errors_without_traceback(archive: Archive, tmp_path: Path) -> None:
    env = {"HPSTORE_STORE": str(tmp_path / "envstore")}
    assert _run("ingest", "-q", str(archive.shots[0].paths["jpg"]), env=env).exit_code == 0
    assert (tmp_path / "envstore" / "catalog.sqlite").exists()
    missing = _run("--store", str(tmp_path / "none"), "query")
    assert missing.exit_code == 1 and "no hpstore store" in missing.stderr and "Traceback" not in missing.output
    bad = _run("--store", str(tmp_path / "envstore"), "query", "--camera", "Leica")
    assert bad.exit_code == 1 and "no camera matches" in bad.stderr
    wrong = _run("--store", str(tmp_path / "envstore"), "files", "--status", "eaten")
    assert wrong.exit_code == 2 and "'eaten' is not one of" in wrong.stderr and "'skipped'" in wrong.stderr
    store = str(tmp_path / "envstore")
    for args in (["check", "--format", "yaml"], ["query", "--format", "yaml"], ["ingest", "--format", "xml", "."]):
        bad_format = _run("--store", store, *args)
        assert bad_format.exit_code == 2 and f"'{args[2]}' is not one of" in bad_format.stderr, args
    bad_date = _run("--store", store, "query", "--since", "2021x07")
    assert bad_date.exit_code == 2 and "--since: not a date: '2021x07'" in bad_date.stderr
    bad_pixel = _run("--store", store, "show", "--camera", "1", "--pixel", "3;4")
    assert bad_pixel.exit_code == 2 and "--pixel: a pixel is ROW,COL" in bad_pixel.stderr
    for value, why in (("abc", "is not a number"), ("-5", "must be 0 seconds or more")):
        slow = _run("--store", store, "ingest", ".", env={**env, "HPSTORE_COMMIT_SECONDS": value})
        assert slow.exit_code == 2 and f"HPSTORE_COMMIT_SECONDS={value!r} {why}" in slow.stderr, slow.stderr


def test_installed_console_script_runs_demo_from_another_directory(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("hpstore")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "hpstore.cli.main"]
    env = {**os.environ, "HPSTORE_STORE": str(tmp_path / "unused")}
    out = subprocess.run(
        [*cmd, "demo", "--photos", "16"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("demo:") and "planted defects in RAW" in last
    raw_found = int(last.split("found ")[1].split(" of ")[0])
    assert raw_found >= 8
    assert not (tmp_path / "unused").exists()  # the demo never touches the user's store
    help_out = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60)
    assert help_out.returncode == 0 and "ingest" in help_out.stdout and "--store" in help_out.stdout


def _noisy_folder(root: Path, archive: Archive) -> Path:
    """Files whose reading makes other libraries talk: LibRaw prints "Unexpected end of file" on a truncated
    DNG by itself, tifffile logs a record for an odd tag, numpy would warn on empty statistics."""
    import numpy as np
    import tifffile

    folder = root / "noisy"
    bad = write_corrupt_files(root / "bad")
    folder.mkdir()
    (folder / "truncated.dng").write_bytes(bad["truncated.dng"].read_bytes())
    (folder / "good.jpg").write_bytes(archive.shots[0].paths["jpg"].read_bytes())
    image = (np.arange(48 * 64 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    odd = folder / "odd-tag.tif"
    tifffile.imwrite(odd, image, photometric="rgb", extratags=[(65000, "H", 1, 5, False)])
    data = bytearray(odd.read_bytes())
    at = data.find(b"\xe8\xfd\x03\x00")  # tag 65000, type SHORT: make the type invalid
    data[at + 2 : at + 4] = b"\x00\x00"
    odd.write_bytes(bytes(data))
    return folder


def test_other_libraries_stay_off_the_terminal_unless_debug(archive: Archive, tmp_path: Path) -> None:
    folder = _noisy_folder(tmp_path, archive)

    def ingest_with(name: str, before: list[str], after: list[str]) -> subprocess.CompletedProcess[str]:
        command = [*hpstore_command(), *before, "--store", str(tmp_path / name), "ingest", *after, str(folder)]
        return subprocess.run(command, capture_output=True, text=True, timeout=300)

    quiet = ingest_with("quiet", [], ["--quiet"])
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert "ingested 2, duplicates 0, failed 1" in quiet.stdout
    plain = ingest_with("plain", [], [])
    truncated = folder / "truncated.dng"
    assert plain.stderr.splitlines() == [
        f"failed: {truncated}: cannot read RAW header: Input/output error",
        "note: 1 photo(s) without camera EXIF grouped as unknown camera 64x48",  # hpstore's own
    ]
    debug = ingest_with("debug", ["--debug"], [])
    assert "Unexpected end of file" in debug.stderr  # LibRaw's own line
    assert "debug: tifffile:" in debug.stderr and "invalid data type" in debug.stderr
