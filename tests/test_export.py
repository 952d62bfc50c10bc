"""Maps of the defects for other programs (issue 16): dcraw's bad pixel file checked with dcraw itself, on
simulator DNGs with masked margins; the csv and json maps against the query."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
from astropy.io import fits
from hpstore.cli.main import app
from PIL import Image
from typer.testing import CliRunner

import hpstore
from hpstore.errors import BadArgument
from hpstore.export.maps import unix_time
from hpstore.testing.simulator import Archive, CameraSpec, Defect, write_archive

DCRAW = shutil.which("dcraw")
RAWTHERAPEE = shutil.which("rawtherapee-cli")
SIRIL = shutil.which("siril-cli")
# Masked margins on every side, as real sensors have them: the map's coordinates must be dcraw's.
CAMERA = CameraSpec(make="Simcam", model="M300", serial="MAP00001", height=200, width=300, masked=(4, 12, 2, 6))
STUCK, LATE, HOT = (40, 60), (120, 201), (80, 150)
ONSET = 20


@dataclass
class Mapped:
    archive: Archive
    store: Path
    text: str  # the dcraw map
    maps: dict[str, tuple[str, str]]  # format -> (file name, text) of the other sensor maps

    def entries(self) -> dict[tuple[int, int], int]:
        """(row, col) -> time of each line of the dcraw map."""
        lines = [line.split() for line in self.text.splitlines() if line and not line.startswith("#")]
        return {(int(row), int(col)): int(when) for col, row, when in lines}


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> Mapped:
    root = tmp_path_factory.mktemp("export")
    defects = [Defect(*STUCK, "stuck"), Defect(*LATE, "stuck", onset=ONSET), Defect(*HOT, "hot", 400.0)]
    archive = write_archive(root / "photos", CAMERA, defects, shots=40, formats=("dng", "jpg"), seed=1)
    with hpstore.open(root / "store") as store:
        store.ingest([root / "photos"])
        text = store.export("MAP00001", "dcraw").text
        others = {to: store.export("MAP00001", to) for to in ("rawtherapee", "siril")}
    return Mapped(archive, root / "store", text, {to: (e.filename, e.text) for to, e in others.items()})


def test_the_dcraw_map_lists_each_defect_from_its_first_sighting(mapped: Mapped) -> None:
    entries = mapped.entries()
    shots = mapped.archive.shots
    assert {STUCK, LATE, HOT} <= set(entries), mapped.text
    assert entries[STUCK] == unix_time(shots[0].capture_time)
    assert entries[LATE] == unix_time(shots[ONSET].capture_time)  # mapped out from its onset on


def _developed(path: Path, *args: str) -> np.ndarray:
    """The mosaic as ``dcraw -D`` gives it (no scaling, no interpolation), 16-bit."""
    assert DCRAW is not None
    out = subprocess.run([DCRAW, "-D", "-4", "-T", "-c", *args, str(path)], capture_output=True, check=True)
    return np.asarray(Image.open(io.BytesIO(out.stdout)))


@pytest.mark.skipif(DCRAW is None, reason="dcraw is not installed (Debian: apt-get install dcraw)")
def test_dcraw_with_the_map_repairs_the_defects_from_their_onset_and_changes_nothing_else(
    mapped: Mapped, tmp_path: Path
) -> None:
    path = tmp_path / "map.txt"
    path.write_text(mapped.text)
    listed = set(mapped.entries())
    for shot in (mapped.archive.shots[i] for i in (0, ONSET - 1, ONSET, 39)):
        plain, fixed = _developed(shot.paths["dng"]), _developed(shot.paths["dng"], "-P", str(path))
        assert plain.shape == (CAMERA.height, CAMERA.width)  # the image without its masked margins
        changed = {(int(r), int(c)) for r, c in np.argwhere(plain != fixed)}
        assert changed <= listed  # nothing but the map's photosites
        for row, col in [STUCK] + ([LATE] if shot.index >= ONSET else []):
            around = plain[row - 2 : row + 3 : 2, col - 2 : col + 3 : 2].astype(float)
            level = np.median(np.delete(around.reshape(-1), 4))  # its same-colour neighbours
            assert plain[row, col] == CAMERA.white_level
            assert abs(fixed[row, col] - level) < 0.1 * (CAMERA.white_level - level), (shot.index, row, col)
        if shot.index < ONSET:
            assert LATE not in changed  # before its onset, the pixel is the photo's own


def test_csv_and_json_maps_hold_the_query_fields(mapped: Mapped) -> None:
    with hpstore.open(mapped.store) as store:
        rows = [d.to_dict() for d in store.query(camera="MAP00001", top=1000, min_confidence=0.5)]
        as_json = json.loads(store.export("MAP00001", "json").text)
        as_csv = list(csv.DictReader(io.StringIO(store.export("MAP00001", "csv").text)))
    wanted = [r for r in rows if not r["extended"]]
    assert as_json == wanted and {r["source"] for r in wanted} == {"raw", "rgb"}
    assert [(int(r["row"]), int(r["col"]), r["kind"]) for r in as_csv if r["row"]] == [
        (r["row"], r["col"], r["kind"]) for r in wanted if r["row"] is not None
    ]


def test_a_sensor_map_needs_raw_photos_and_a_known_format(tmp_path: Path) -> None:
    camera = CameraSpec(serial="JPEG0001", height=120, width=160)
    write_archive(tmp_path / "photos", camera, [Defect(30, 40, "stuck")], shots=12, formats=("jpg",))
    with hpstore.open(tmp_path / "store") as store:
        store.ingest([tmp_path / "photos"])
        with pytest.raises(BadArgument, match="no RAW photos"):
            store.export("JPEG0001", "dcraw")
        with pytest.raises(BadArgument, match="--to must be one of"):
            store.export("JPEG0001", "gimp")
        assert json.loads(store.export("JPEG0001", "json").text)[0]["source"] == "rgb"


def test_the_cli_writes_a_map_into_a_folder_under_its_name(mapped: Mapped, tmp_path: Path) -> None:
    args = ["--store", str(mapped.store), "export", "--camera", "MAP00001", "--to", "dcraw", "-o", str(tmp_path)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = tmp_path / "Simcam_M300_MAP00001.dcraw-badpixels.txt"
    assert written.read_text() == mapped.text and f"written to {written}" in result.stdout
    to_stdout = CliRunner().invoke(app, args[:-2], catch_exceptions=False)
    assert to_stdout.stdout == mapped.text


def _stuck_sites(mapped: Mapped, index: int) -> list[tuple[int, int]]:
    return [STUCK] + ([LATE] if index >= ONSET else [])


@pytest.mark.skipif(
    RAWTHERAPEE is None, reason="rawtherapee-cli is not installed (Debian: apt-get install rawtherapee)"
)
def test_rawtherapee_finds_the_map_by_the_camera_name_and_repairs_its_pixels(
    mapped: Mapped, tmp_path: Path
) -> None:
    assert RAWTHERAPEE is not None
    name, text = mapped.maps["rawtherapee"]
    assert name == "Simcam M300.badpixels"  # the name RawTherapee looks for: LibRaw's make and model
    listed = {(int(y), int(x)) for x, y in (line.split() for line in text.splitlines() if line[0] != "#")}
    assert listed == set(mapped.entries())
    shot = mapped.archive.shots[39]
    out: dict[str, np.ndarray] = {}
    for run, with_map in (("plain", False), ("mapped", True)):
        settings, frames = tmp_path / run, tmp_path / run / "darkframes"
        frames.mkdir(parents=True)
        # The neutral profile: no automatic exposure, which a repaired highlight would move everywhere
        options = f"[General]\nDarkFramesPath={frames}\nVerbose=true\n[Profiles]\nRawDefault=Neutral\n"
        (settings / "options").write_text(options)
        if with_map:  # placed where RawTherapee's options say it reads them
            args = [
                "--store",
                str(mapped.store),
                "export",
                "--camera",
                "MAP00001",
                "--to",
                "rawtherapee",
                "--install",
            ]
            placed = CliRunner().invoke(app, args, env={"RT_SETTINGS": str(settings)}, catch_exceptions=False)
            assert placed.exit_code == 0, placed.output
            assert (frames / name).read_text() == text
        target = tmp_path / f"{run}.tif"
        cmd = [RAWTHERAPEE, "-Y", "-b16", "-t", "-o", str(target), "-c", str(shot.paths["dng"])]
        done = subprocess.run(cmd, env={"RT_SETTINGS": str(settings), "HOME": str(tmp_path)}, capture_output=True)
        assert done.returncode == 0, done.stderr
        if with_map:
            assert f"Correcting {len(listed)} pixels from .badpixels" in done.stdout.decode()
        out[run] = tifffile.imread(target).astype(float)
    plain, fixed = out["plain"], out["mapped"]
    top, left = ((CAMERA.height - plain.shape[0]) // 2, (CAMERA.width - plain.shape[1]) // 2)  # its border crop
    diff = np.abs(plain - fixed).max(axis=2)
    for (r, c), change in zip(np.argwhere(diff > 0) + np.array([top, left]), diff[diff > 0], strict=True):
        reach = min(max(abs(r - y), abs(c - x)) for y, x in listed)
        # demosaicing carries a photosite's repair a few pixels around it; wider kernels (sharpening) a trace;
        # elsewhere RawTherapee's threads may round a level differently from run to run
        assert reach <= 8 or (reach <= 24 and change <= 64) or change <= 2, (r, c, reach, change)
    for row, col in _stuck_sites(mapped, shot.index):
        at = (row - top, col - left)
        level = np.median(plain[at[0] - 3 : at[0] + 4, at[1] - 3 : at[1] + 4].reshape(-1, 3), axis=0)
        excess, left_over = plain[at] - level, fixed[at] - level
        assert excess.max() > 10_000 and np.abs(left_over).max() < 0.1 * excess.max(), (row, col)


@pytest.mark.skipif(SIRIL is None, reason="siril-cli is not installed (Debian: apt-get install siril)")
def test_siril_cosme_repairs_exactly_the_listed_photosites(mapped: Mapped, tmp_path: Path) -> None:
    assert SIRIL is not None
    name, text = mapped.maps["siril"]
    assert name.endswith(".lst") and "" not in text.splitlines()  # Siril refuses blank lines
    (tmp_path / name).write_text(text)
    shot = mapped.archive.shots[39]
    shutil.copy(shot.paths["dng"], tmp_path / "photo.dng")
    script = f"requires 1.0.0\nload photo.dng\nsave plain\ncosme_cfa {name}\nsave fixed\n"
    (tmp_path / "fix.ssf").write_text(script)
    done = subprocess.run([SIRIL, "-d", str(tmp_path), "-s", "fix.ssf"], capture_output=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    plain, fixed = (
        fits.getdata(tmp_path / f"{n}.fit")[::-1].astype(float) for n in ("plain", "fixed")
    )  # top down
    np.testing.assert_array_equal(plain, _developed(shot.paths["dng"]) if DCRAW else plain)
    changed = {(int(r), int(c)) for r, c in np.argwhere(plain != fixed)}
    assert set(_stuck_sites(mapped, shot.index)) <= changed <= set(mapped.entries())
    for row, col in _stuck_sites(mapped, shot.index):
        level = np.median(np.delete(plain[row - 2 : row + 3 : 2, col - 2 : col + 3 : 2].reshape(-1), 4))
        assert abs(fixed[row, col] - level) < 0.1 * (plain[row, col] - level)


def test_the_dng_map_is_an_opcode_list_in_the_stored_images_coordinates(mapped: Mapped) -> None:
    with hpstore.open(mapped.store) as store:
        found = store.export("MAP00001", "dng")
    assert found.data is not None and found.filename.endswith(".OpcodeList1.bin")
    data = found.data
    count, opcode, version, _flags, size = struct.unpack(">IIIII", data[:20])
    assert (count, opcode, version, size) == (1, 5, 0x01030000, len(data) - 20)
    phase, points, rects = struct.unpack(">III", data[20:32])
    assert phase == 1 and rects == 0  # RGGB at the stored image's top left (even margins)
    stored = {struct.unpack(">ii", data[32 + 8 * i : 40 + 8 * i]) for i in range(points)}
    top, left = CAMERA.masked[:2]
    assert stored == {(r + top, c + left) for r, c in mapped.entries()}


REAL_RAWS = os.environ.get("HPSTORE_REAL_RAWS")


@pytest.mark.skipif(DCRAW is None or not REAL_RAWS, reason="set HPSTORE_REAL_RAWS to a folder of real RAW files")
def test_dcraw_coordinates_are_libraws_visible_area_on_real_raws(tmp_path: Path) -> None:
    """On real RAW files with masked margins (a Canon CRW has 48 columns, NEFs and CR2s some too): dcraw -D
    writes exactly LibRaw's ``raw_image_visible``, and a map line ``col row 0`` changes exactly that pixel."""
    import rawpy

    assert REAL_RAWS is not None
    files = [
        p
        for p in sorted(Path(REAL_RAWS).iterdir())
        if p.suffix.lower() in {".crw", ".cr2", ".nef", ".arw", ".dng", ".orf", ".rw2", ".pef", ".raf"}
    ]
    assert files, f"no RAW files in {REAL_RAWS}"
    for path in files:
        with rawpy.imread(str(path)) as raw:
            visible = raw.raw_image_visible.copy()
        plain = _developed(path)
        np.testing.assert_array_equal(plain, visible)
        row, col = visible.shape[0] // 3, visible.shape[1] // 3
        (tmp_path / "map.txt").write_text(f"{col} {row} 0\n")
        fixed = _developed(path, "-P", str(tmp_path / "map.txt"))
        assert {(int(r), int(c)) for r, c in np.argwhere(plain != fixed)} <= {(row, col)}, path.name
