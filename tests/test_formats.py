"""Formats people have, written the way their writers write them: DNGs with directories after the pixels,
serials only in a MakerNote, HEIC with a rotation, compressed TIFF, FITS darks of mono and colour sensors."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile

from hpstore.commands.query import cameras, query
from hpstore.ingest.pipeline import ingest
from hpstore.io import decode_into, probe
from hpstore.settings import Settings
from hpstore.store.storage import Storage
from hpstore.testing.simulator import CameraSpec, Defect, plant_defects, write_archive

from .conftest import make_settings


def _decoded(path: Path) -> np.ndarray:
    info = probe(path)
    out = np.empty(info.shape, info.dtype)
    decode_into(path.read_bytes(), info, out)
    return out


def test_dngs_whose_directories_lie_after_the_pixels_keep_their_identity(tmp_path: Path) -> None:
    bodies = [
        CameraSpec(model="L1", serial=serial, height=700, width=1000, ifds_last=True) for serial in ("A-1", "B-2")
    ]
    archives = [
        write_archive(tmp_path / "photos" / str(i), camera, [], 3, formats=("dng",), seed=i)
        for i, camera in enumerate(bodies)
    ]
    shot = archives[0].shots[0]
    first = shot.paths["dng"]
    ifd0 = struct.unpack("<I", first.read_bytes()[4:8])[0]
    assert ifd0 > 1 << 20  # past the first MiB, where a head-window parser stops looking
    facts = probe(first).facts
    assert (facts.serial, facts.capture_time, facts.exposure_time) == (
        "A-1",
        shot.capture_time,
        shot.exposure_time,
    )

    settings = make_settings(tmp_path / "store")
    report = ingest([str(tmp_path / "photos")], settings)
    assert report.ingested == 6 and report.failed == 0
    found = cameras(settings)
    assert sorted((c["model"], c["serial"], c["photos"]) for c in found) == [("L1", "A-1", 3), ("L1", "B-2", 3)]


def test_serials_only_in_a_nikon_maker_note_tell_two_bodies_apart(tmp_path: Path) -> None:
    for serial in ("2001f1c0", "2002a7b1"):
        camera = CameraSpec(
            make="NIKON CORPORATION", model="NIKON D70", serial=serial, height=64, width=96, serial_in="makernote"
        )
        write_archive(tmp_path / serial, camera, [], 3, formats=("dng", "jpg"), seed=len(serial))
    settings = make_settings(tmp_path / "store")
    ingest([str(tmp_path / "2001f1c0"), str(tmp_path / "2002a7b1")], settings)
    found = cameras(settings)
    assert sorted((c["serial"], c["photos"], c["note"]) for c in found) == [
        ("2001f1c0", 6, None),
        ("2002a7b1", 6, None),
    ]


def test_a_model_without_serials_is_one_camera_and_says_bodies_would_mix(tmp_path: Path) -> None:
    camera = CameraSpec(model="NoSerial", serial=None, height=64, width=96)
    write_archive(tmp_path / "p", camera, [], 2, formats=("jpg",))
    settings = make_settings(tmp_path / "store")
    ingest([str(tmp_path / "p")], settings)
    (found,) = cameras(settings)
    assert found["serial"] is None and "several bodies" in found["note"]


def test_heic_is_decoded_as_stored_whatever_its_rotation(tmp_path: Path) -> None:
    camera = CameraSpec(height=64, width=96)
    archive = write_archive(tmp_path, camera, [], 2, formats=("heic", "jpg"), portrait_every=2)
    rotated = archive.shots[1]
    assert rotated.orientation == 6  # pillow-heif turned it into an irot the decoder applies
    for shot in archive.shots:
        heic, jpeg = _decoded(shot.paths["heic"]), _decoded(shot.paths["jpg"])
        assert heic.shape == jpeg.shape == (64, 96, 3)
        # Two lossy codecs of one developed image: close everywhere, not a turned copy.
        assert np.abs(heic.astype(int) - jpeg).mean() < 4
    facts = probe(rotated.paths["heic"]).facts
    assert (facts.make, facts.model, facts.serial) == ("Simcam", "S1", "SIM0001")


@pytest.mark.parametrize("compression", ["zlib", "lzw", "packbits", "zstd"])
def test_compressed_tiffs_decode_exactly(tmp_path: Path, compression: str) -> None:
    rng = np.random.default_rng(4)
    image = rng.integers(0, 4096, (40, 60, 3), dtype=np.uint16)
    path = tmp_path / f"{compression}.tif"
    tifffile.imwrite(path, image, photometric="rgb", compression=compression)
    info = probe(path)
    assert (info.format, info.shape, info.bits) == ("tiff", (40, 60, 3), 16)
    np.testing.assert_array_equal(_decoded(path), image)


def test_jpeg_compressed_tiff_decodes_close_to_its_source(tmp_path: Path) -> None:
    y, x = np.mgrid[0:48, 0:64]
    image = np.stack([x * 3, y * 4, x + y], -1).astype(np.uint8)
    path = tmp_path / "jpeg.tif"
    tifffile.imwrite(path, image, photometric="rgb", compression="jpeg")
    assert np.abs(_decoded(path).astype(int) - image).mean() < 3


def _fits_darks(tmp_path: Path, cfa: str, serial: str) -> tuple[Path, list[Defect]]:
    camera = CameraSpec(
        make="ZWO", model=f"ASI-{cfa}", serial=serial, height=80, width=120, cfa=cfa, temperature=-10.0
    )
    # A dead photosite reads black like its neighbours in a dark frame: only hot and stuck ones can show.
    defects = plant_defects(camera, np.random.default_rng(11), hot=4, stuck=1, dead=0)
    folder = tmp_path / cfa
    write_archive(folder, camera, defects, 10, formats=("fits",), seed=5, dark_frames=range(10))
    return folder, defects


@pytest.mark.parametrize("cfa", ["MONO", "RGGB"])
def test_fits_darks_rank_their_hot_pixels_first(tmp_path: Path, cfa: str) -> None:
    folder, defects = _fits_darks(tmp_path, cfa, "4711")
    settings: Settings = make_settings(tmp_path / "store")
    report = ingest([str(folder)], settings)
    assert report.ingested == 10
    (camera,) = cameras(settings)
    assert (camera["model"], camera["serial"], camera["sources"]) == (f"ZWO ASI-{cfa}", "4711", ["raw"])
    top = query(settings, top=len(defects))
    assert {(r["row"], r["col"]) for r in top} == {(d.row, d.col) for d in defects}
    kinds = {(d.row, d.col): d.kind for d in defects}
    assert {r["kind"] for r in top if kinds[(r["row"], r["col"])] == "hot"} <= {"hot", "warm"}
    with Storage(settings, create=False) as store:
        rows = store.catalog.files()
    assert {(f.frame_type, f.temperature) for f in rows} == {("dark", -10.0)}
    info = probe(next(folder.glob("*.fits")))
    assert info.pattern == (None if cfa == "MONO" else "RGGB")
