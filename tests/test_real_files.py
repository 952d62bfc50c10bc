"""Files written by real cameras and programs (``tests/data/real``, sources in its README)."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hpstore.commands.query import cameras
from hpstore.ingest.pipeline import ingest
from hpstore.io import decode_into, probe
from hpstore.store.storage import Storage

from .conftest import hpstore_command, make_settings

REAL = Path(__file__).parent / "data" / "real"
EXPECTED = {k: v for k, v in json.loads((REAL / "expected.json").read_text()).items() if not k.startswith("_")}
READABLE = sorted(name for name, facts in EXPECTED.items() if facts.get("decodable", True))


def _decoded(path: Path) -> np.ndarray:
    info = probe(path)
    out = np.empty(info.shape, info.dtype)
    decode_into(path.read_bytes(), info, out)
    return out


@pytest.mark.parametrize("name", READABLE)
def test_identity_and_size_as_written_down_by_hand(name: str) -> None:
    """``expected.json`` was written from exiv2, ExifTool, astropy and Pillow by hand, file by file."""
    want = EXPECTED[name]
    info = probe(REAL / name)
    facts = info.facts
    model = want["model"]
    if want["make"] and model.lower().startswith(want["make"].lower() + " "):
        model = model[len(want["make"]) + 1 :]  # we drop a repeated make: "Canon EOS 20D" -> "EOS 20D"
    assert (facts.make, facts.model, facts.serial) == (want["make"], model, want["serial"])
    assert info.shape[:2] == (want["height"], want["width"])
    assert facts.iso == want.get("iso")
    if want.get("exposure_time"):  # a bias frame's EXPTIME 0 is no exposure: stored as none
        assert facts.exposure_time == pytest.approx(want["exposure_time"])
    else:
        assert facts.exposure_time is None
    if want.get("capture_time"):  # without DateTimeOriginal we may fall back on the file's DateTime
        assert facts.capture_time == dt.datetime.fromisoformat(want["capture_time"])


def test_three_bodies_of_one_model_are_three_cameras(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "store")
    report = ingest([str(p) for p in sorted(REAL.glob("canon_eos20d_body*.jpg"))], settings)
    assert report.ingested == 3
    found = sorted((c["make"], c["model"], c["serial"], c["photos"]) for c in cameras(settings))
    assert found == [
        ("Canon", "EOS 20D", "320116738", 1),
        ("Canon", "EOS 20D", "330113864", 1),
        ("Canon", "EOS 20D", "730407016", 1),
    ]


def test_nikon_bodies_of_one_model_apart_by_maker_note_serial(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "store")
    names = ["nikon_d70.jpg", "nikon_d70_body2.jpg", "nikon_d70s_capturenx_jpeg.nef"]
    report = ingest([str(REAL / name) for name in names], settings)
    assert report.ingested == 3  # the .nef is a JPEG by its content, and read as one
    found = sorted((c["model"], c["serial"]) for c in cameras(settings))
    assert found == [("NIKON D70", "20025585"), ("NIKON D70", "2539"), ("NIKON D70s", "1005a431")]


def test_a_nef_without_its_raw_data_fails_alone_with_a_reason(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "store")
    report = ingest([str(REAL / "nikon_d70_stripped.nef"), str(REAL / "nikon_d90.jpg")], settings)
    assert (report.ingested, report.failed) == (1, 1)
    with Storage(settings, create=False) as store:
        (failed,) = [f for f in store.catalog.files() if f.status == "failed"]
    assert failed.path.endswith("nikon_d70_stripped.nef") and failed.reason and "\n" not in failed.reason


def test_a_hot_pixel_of_a_real_ccd_reads_at_its_place() -> None:
    pixels = _decoded(REAL / "apogee_aspen_flat_hotpixel.fit")[..., 0]
    assert pixels[4, 63] == 6501 and np.median(pixels) == 1327
    assert np.unravel_index(np.argmax(pixels), pixels.shape) == (4, 63)


def test_a_nikon_keeps_serial_and_iso_in_its_maker_note() -> None:
    facts = probe(REAL / "nikon_d70.jpg").facts
    assert (facts.make, facts.model, facts.serial, facts.iso) == ("NIKON CORPORATION", "NIKON D70", "2539", 400)
    assert facts.exposure_time == pytest.approx(5 / 300)


def test_a_heic_gives_its_camera_and_pixels() -> None:
    path = REAL / "nikon_d5300_stonehenge.heic"
    info = probe(path)
    assert (info.format, info.shape, info.source) == ("heif", (200, 300, 3), "rgb")
    assert (info.facts.model, info.facts.serial) == ("NIKON D5300", "2567806")
    pixels = _decoded(path)
    assert 100 < pixels.mean() < 220 and pixels.std() > 10  # a daylight scene, not a blank buffer


def test_cooled_ccd_darks_and_bias_frames(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "store")
    report = ingest([str(p) for p in sorted(REAL.glob("apogee_alta_*.fit"))], settings)
    assert report.ingested == 6 and report.failed == 0
    (camera,) = cameras(settings)
    assert (camera["model"], camera["sources"], camera["geometries"]) == (
        "Apogee Alta",
        ["raw"],
        ["raw 100x100x1 16-bit"],
    )
    with Storage(settings, create=False) as store:
        rows = store.catalog.files()
        classes = {g.exposure: g.n for g in store.catalog.groups()}
    by_type = {f.frame_type: f for f in rows}
    assert set(by_type) == {"dark", "bias"}
    assert by_type["dark"].exposure_time == 30 and by_type["bias"].exposure_time is None
    assert all(-35.5 < (f.temperature or 0) < -34.5 for f in rows)
    assert classes == {"long": 3, "short": 3}  # darks collect dark current; bias frames do not
    # The frames hold whole counts stored as 32-bit floats: read exactly.
    from astropy.io import fits

    path = REAL / "apogee_alta_darktest1.fit"
    np.testing.assert_array_equal(_decoded(path)[..., 0], fits.getdata(path).astype(np.uint16))


@pytest.mark.parametrize("name", ["pillow_hopper_lzw.tif", "pillow_hopper_jpg.tif", "pillow_16bit.deflate.tif"])
def test_compressed_tiffs_read_like_pillow_reads_them(name: str) -> None:
    with Image.open(REAL / name) as im:
        expected = np.asarray(im.convert("RGB") if im.mode != "I;16" else im)
    pixels = _decoded(REAL / name)
    np.testing.assert_array_equal(pixels.reshape(expected.shape), expected)


def test_packed_12_bit_samples_read_as_their_values() -> None:
    info = probe(REAL / "pillow_12bit.cropped.tif")
    assert (info.bits, info.white_level) == (16, 4095)
    reference = _decoded(REAL / "pillow_12in16bit.tif")
    np.testing.assert_array_equal(_decoded(REAL / "pillow_12bit.cropped.tif"), reference)


def test_real_files_leave_stderr_silent(tmp_path: Path) -> None:
    folder = tmp_path / "card"
    shutil.copytree(REAL, folder, ignore=shutil.ignore_patterns("*.md", "*.json"))
    command = [*hpstore_command(), "--store", str(tmp_path / "store"), "ingest", "--quiet", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.startswith("ingested 27, duplicates 0, failed 1, skipped 0")
