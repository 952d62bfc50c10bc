"""Repaired copies of photos (issue 16): the defects active at each photo's capture time painted over, the
rest of a JPEG within a re-encoding's error, its tables and metadata kept, the originals untouched."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rawpy
from hpstore.cli.main import app
from PIL import Image, JpegImagePlugin
from typer.testing import CliRunner

import hpstore
from hpstore.errors import BadArgument
from hpstore.testing.simulator import Archive, CameraSpec, Defect, write_archive
from hpstore.types import Defect as Found

CAMERA = CameraSpec(make="Simcam", model="J100", serial="FIX00001", height=200, width=300)
STUCK, LATE = (40, 60), (120, 201)
ONSET = 20


@pytest.fixture(scope="module")
def shoot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Archive, Path]:
    root = tmp_path_factory.mktemp("fix")
    defects = [Defect(*STUCK, "stuck"), Defect(*LATE, "stuck", onset=ONSET)]
    archive = write_archive(root / "photos", CAMERA, defects, shots=40, formats=("jpg", "png"), seed=2)
    with hpstore.open(root / "store") as store:
        store.ingest([root / "photos"])
    return archive, root / "store"


def _excess(pixels: np.ndarray, row: int, col: int) -> float:
    """How far a pixel lies from the ring 4 pixels out (outside its JPEG smear), largest over channels."""
    rows, cols = slice(row - 4, row + 5), slice(col - 4, col + 5)
    ring = np.concatenate(
        [pixels[row - 4, cols], pixels[row + 4, cols], pixels[rows, col - 4], pixels[rows, col + 4]]
    )
    return float(np.abs(pixels[row, col].astype(float) - np.median(ring, axis=0)).max())


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def test_a_fixed_jpeg_loses_its_defects_and_keeps_its_tables_metadata_and_quality(
    shoot: tuple[Archive, Path], tmp_path: Path
) -> None:
    archive, store_path = shoot
    before, after = archive.shots[ONSET - 5].paths["jpg"], archive.shots[39].paths["jpg"]
    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (before, after)}
    with hpstore.open(store_path) as store:
        results = store.fix("FIX00001", [before, after], tmp_path / "out")
    assert [r.status for r in results] == ["fixed", "fixed"], results
    for photo, result in zip((before, after), results, strict=True):
        assert hashlib.sha256(photo.read_bytes()).hexdigest() == digest[photo]  # the original is untouched
        assert result.output is not None
        original, fixed = Image.open(photo), Image.open(result.output)
        assert fixed.quantization == original.quantization  # type: ignore[attr-defined]
        assert fixed.info["exif"] == original.info["exif"]
        a, b = np.asarray(original), np.asarray(fixed)
        assert _psnr(a, b) >= 40
        assert _excess(b, *STUCK) <= 0.35 * _excess(a, *STUCK)  # at least 65 % of the excess gone
        if photo is after:
            assert _excess(b, *LATE) <= 0.35 * _excess(a, *LATE)
        else:  # before its onset the late defect is not there to repair: that pixel is the photo's own
            assert abs(_excess(b, *LATE) - _excess(a, *LATE)) <= 8  # only the re-encoding's error


def test_a_png_copy_is_repaired_losslessly(shoot: tuple[Archive, Path], tmp_path: Path) -> None:
    archive, store_path = shoot
    photo = archive.shots[39].paths["png"]
    with hpstore.open(store_path) as store:
        (result,) = store.fix("FIX00001", [photo], tmp_path)
    assert result.status == "fixed" and result.output is not None
    a, b = np.asarray(Image.open(photo)), np.asarray(Image.open(result.output))
    changed = np.argwhere((a != b).any(axis=2))
    near = [min(max(abs(r - y), abs(c - x)) for y, x in (STUCK, LATE)) for r, c in changed]
    assert max(near) <= 2  # nothing but the defects and their smear
    assert _excess(b, *STUCK) <= 0.35 * _excess(a, *STUCK)


def test_fix_refuses_a_source_folder_and_skips_what_it_cannot_repair(
    shoot: tuple[Archive, Path], tmp_path: Path
) -> None:
    archive, store_path = shoot
    photo = archive.shots[39].paths["jpg"]
    other = CameraSpec(serial="OTHER001", height=120, width=160)
    stranger = write_archive(tmp_path / "other", other, [], shots=1, formats=("jpg",)).shots[0].paths["jpg"]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(photo.read_bytes()[:300])
    with hpstore.open(store_path) as store:
        with pytest.raises(BadArgument, match="never go into a source folder"):
            store.fix("FIX00001", [photo], photo.parent)
        results = store.fix("FIX00001", [stranger, broken, tmp_path / "missing.jpg"], tmp_path / "out")
    assert [r.status for r in results] == ["skipped"] * 3, results
    assert all(r.reason for r in results) and not any((tmp_path / "out").iterdir())


def test_the_cli_fixes_a_folder_and_says_what_it_did(shoot: tuple[Archive, Path], tmp_path: Path) -> None:
    archive, store_path = shoot
    folder = archive.shots[0].paths["jpg"].parent
    args = ["--store", str(store_path), "fix", "--camera", "FIX00001", "--out", str(tmp_path), str(folder)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "fixed 80, unchanged 0, skipped 0" in result.stdout  # 40 JPEGs and 40 PNGs
    assert len(list(tmp_path.iterdir())) == 80


EXIFTOOL = shutil.which("exiftool")
MASKED = CameraSpec(make="Simcam", model="D100", serial="DNG00001", height=120, width=160, masked=(4, 12, 2, 6))


def test_a_fixed_dng_carries_the_opcode_at_stored_coordinates_and_repaired_photosites(tmp_path: Path) -> None:
    stuck, late, onset = (30, 50), (80, 101), 6
    defects = [Defect(*stuck, "stuck"), Defect(*late, "stuck", onset=onset)]
    archive = write_archive(tmp_path / "photos", MASKED, defects, shots=14, formats=("dng",), seed=4)
    with hpstore.open(tmp_path / "store") as store:
        store.ingest([tmp_path / "photos"])
        early, last = archive.shots[onset - 2].paths["dng"], archive.shots[13].paths["dng"]
        original = last.read_bytes()
        results = store.fix("DNG00001", [early, last], tmp_path / "out")
    assert [r.status for r in results] == ["fixed", "fixed"] and last.read_bytes() == original
    for photo, result, sites in zip((early, last), results, ([stuck], [stuck, late]), strict=True):
        assert result.output is not None
        copy = Path(result.output)
        points = _opcode_points(copy.read_bytes())
        top, left = MASKED.masked[:2]
        assert points == {(r + top, c + left) for r, c in sites}  # the whole stored image's coordinates
        with rawpy.imread(str(photo)) as a, rawpy.imread(str(copy)) as b:
            before, after = a.raw_image_visible.astype(int), b.raw_image_visible.astype(int)
        changed = {(int(r), int(c)) for r, c in np.argwhere(before != after)}
        assert changed == set(sites)
        for r, c in sites:
            ring = [before[r + dy, c + dx] for dy in (-2, 0, 2) for dx in (-2, 0, 2) if dy or dx]
            assert after[r, c] == sum(ring) // 8 and before[r, c] == MASKED.white_level
        if EXIFTOOL:
            said = subprocess.run([EXIFTOOL, "-s3", "-OpcodeList1", str(copy)], capture_output=True, text=True)
            assert said.stdout.strip() == "FixBadPixelsList"


def _opcode_points(data: bytes) -> set[tuple[int, int]]:
    """The points of the FixBadPixelsList opcode in a DNG's OpcodeList1, read with the file's own TIFF
    structure (not hpstore's reader)."""
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        value = tif.pages[0].tags[51008].value
    (count,) = struct.unpack(">I", value[:4])
    assert count == 1
    opcode, _version, _flags, size = struct.unpack(">IIII", value[4:20])
    assert opcode == 5 and size == len(value) - 20
    _phase, points, rects = struct.unpack(">III", value[20:32])
    assert rects == 0
    return {struct.unpack(">ii", value[32 + 8 * i : 40 + 8 * i]) for i in range(points)}


REAL = Path(__file__).parent / "data" / "real"


@pytest.mark.parametrize("name", ["olympus_e-p3.jpg", "canon_eos600d_lightroom.jpg", "nikon_d90.jpg"])
def test_a_real_cameras_jpeg_keeps_its_tables_subsampling_and_metadata(name: str, tmp_path: Path) -> None:
    from hpstore.export.repair import repaired_copy

    source = REAL / name
    with Image.open(source) as image:
        width, height = image.size
        sampling = JpegImagePlugin.get_sampling(image)
    row, col = height // 2, width // 2
    defect = _developed_defect(row, col, f"{width}x{height}")
    assert repaired_copy(source, tmp_path / name, [defect], None) == 1
    original, fixed = Image.open(source), Image.open(tmp_path / name)
    assert fixed.quantization == original.quantization  # type: ignore[attr-defined]
    assert JpegImagePlugin.get_sampling(fixed) == sampling
    for key in ("exif", "icc_profile", "xmp"):
        assert fixed.info.get(key) == original.info.get(key), key
    a, b = np.asarray(original), np.asarray(fixed)
    assert _psnr(a, b) >= 40
    away = np.ones(a.shape[:2], bool)
    away[row - 8 : row + 9, col - 8 : col + 9] = False
    assert np.abs(a[away].astype(int) - b[away]).mean() <= 2  # elsewhere: a re-encoding's rounding only


def _developed_defect(row: int, col: int, geometry: str) -> Found:
    """A developed-image defect as a query gives it, at (row, col)."""
    return Found.from_dict(
        {"camera": "x", "camera_id": 1, "make": None, "model": None, "source": "rgb", "row": row, "col": col,
         "channel": "R", "kind": "stuck", "score": 50.0, "confidence": 1.0, "n": 10, "mean": 255.0, "std": 0.0,
         "z_mean": 30.0, "z_std": -5.0, "neighbour_mean": 90.0, "neighbour_std": 8.0, "geometry": geometry}
    )  # fmt: skip


def test_tiff_copies_keep_every_byte_but_the_painted_pixels_or_their_compression(tmp_path: Path) -> None:
    import tifffile

    from hpstore.export.repair import repaired_tiff

    camera = CameraSpec(serial="TIF00001", height=120, width=160)
    archive = write_archive(tmp_path / "photos", camera, [Defect(40, 60, "stuck")], shots=12, formats=("tif",))
    with hpstore.open(tmp_path / "store") as store:
        store.ingest([tmp_path / "photos"])
        photo = archive.shots[11].paths["tif"]
        (result,) = store.fix("TIF00001", [photo], tmp_path / "out")
        found = [d for d in store.query(camera="TIF00001") if d.source == "rgb"]
    assert result.status == "fixed" and result.output is not None and result.reason is None
    before, after = photo.read_bytes(), Path(result.output).read_bytes()
    assert len(before) == len(after)
    a, b = tifffile.imread(photo).astype(int), tifffile.imread(result.output).astype(int)
    changed = np.argwhere((a != b).any(axis=2))
    assert len(changed) and all(abs(r - 40) <= 2 and abs(c - 60) <= 2 for r, c in changed)
    assert _excess(b, 40, 60) <= 0.35 * _excess(a, 40, 60)
    differing = sum(x != y for x, y in zip(before, after, strict=True))
    assert differing <= 25 * 3 * 2  # the painted 5x5 pixels' samples, nothing else: tags and EXIF kept
    # a compressed TIFF is written again, with its compression and descriptive tags
    packed = tmp_path / "packed.tif"
    xmp = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'></x:xmpmeta>"
    tifffile.imwrite(packed, tifffile.imread(photo), compression="zlib", extratags=[(700, 1, len(xmp), xmp, True)])
    count, note = repaired_tiff(packed, tmp_path / "packed-fixed.tif", found, None)
    assert count >= 1 and "EXIF" in note
    with tifffile.TiffFile(tmp_path / "packed-fixed.tif") as tif:
        assert tif.pages.first.compression == 8 and tif.pages.first.tags[700].value == xmp
        c = tif.pages.first.asarray().astype(int)
    np.testing.assert_array_equal(c, b)


def test_a_low_quality_jpegs_wider_chroma_smear_is_painted_over_too(tmp_path: Path) -> None:
    # At quality 75 a stuck pixel's colour rings over its chroma cell's neighbours, at odd positions most.
    camera = CameraSpec(serial="Q7500001", height=160, width=200)
    spots = [(41, 61), (100, 150)]
    archive = write_archive(
        tmp_path / "photos",
        camera,
        [Defect(*p, "stuck") for p in spots],
        shots=24,
        formats=("jpg",),
        jpeg_quality=75,
    )
    with hpstore.open(tmp_path / "store") as store:
        store.ingest([tmp_path / "photos"])
        (result,) = store.fix("Q7500001", [archive.shots[-1].paths["jpg"]], tmp_path / "out")
    assert result.status == "fixed" and result.output is not None
    a, b = np.asarray(Image.open(archive.shots[-1].paths["jpg"])), np.asarray(Image.open(result.output))
    assert _psnr(a, b) >= 40
    for row, col in spots:
        assert _excess(b, row, col) <= 0.35 * _excess(a, row, col), (row, col)
