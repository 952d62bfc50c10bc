"""The simulator's real-life options: scenes cropped from real photos, JPEGs developed by LibRaw, archives
of one habit (daylight, night, darks), and the truth of which photo shows a defect."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hpstore.testing import natural
from hpstore.testing.evaluation import EVAL_CAMERAS, showing, write_eval_archive
from hpstore.testing.simulator import CameraSpec, Defect, write_archive

REAL = Path(__file__).parent / "data" / "real"


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return natural.load([REAL])


def test_real_photos_load_as_upright_rgb_and_other_files_are_skipped(photos: list[np.ndarray]) -> None:
    assert len(photos) >= 3
    assert all(p.ndim == 3 and p.shape[2] == 3 and p.dtype == np.uint8 for p in photos)
    assert max(max(p.shape[:2]) for p in photos) <= natural.MAX_SIDE
    assert natural.load([REAL / "apogee_alta_darktest1.fit", REAL / "expected.json"]) == []


def test_crops_are_linear_light_of_the_size_asked_and_differ(photos: list[np.ndarray]) -> None:
    a = natural.crop(photos, 60, 80, np.random.default_rng(1))
    b = natural.crop(photos, 60, 80, np.random.default_rng(2))
    assert a.shape == b.shape == (3, 60, 80) and a.dtype == np.float32
    assert a.mean() == pytest.approx(1.0, rel=1e-3) and a.min() >= 0
    assert not np.allclose(a, b)


def test_an_archive_of_real_scenes_developed_by_libraw_shows_a_stuck_pixel_in_place(
    photos: list[np.ndarray], tmp_path: Path
) -> None:
    camera = CameraSpec(model="N1", serial="NAT1", height=120, width=160, cfa="GRBG")
    stuck = Defect(50, 71, "stuck", 1.0)
    archive = write_archive(
        tmp_path, camera, [stuck], 4, seed=3, scenes=photos, developer="libraw", bursts=[(2, 2)]
    )
    jpegs = [np.asarray(Image.open(s.paths["jpg"])).astype(int) for s in archive.shots]
    assert all(j.shape == (120, 160, 3) for j in jpegs)
    for j in jpegs:  # the brightest spot around the stuck photosite is on it (demosaicing spreads it by 1)
        window = j[45:56, 66:77].sum(axis=2)
        r, c = np.unravel_index(int(np.argmax(window)), window.shape)
        assert abs(r + 45 - stuck.row) <= 1 and abs(c + 66 - stuck.col) <= 1
    # shots 2 and 3 are a burst: one scene, fresh noise
    assert np.corrcoef(jpegs[2].reshape(-1), jpegs[3].reshape(-1))[0, 1] > 0.95
    assert np.corrcoef(jpegs[0].reshape(-1), jpegs[1].reshape(-1))[0, 1] < 0.9
    with pytest.raises(ValueError, match="libraw"):
        write_archive(tmp_path / "x", camera, [], 1, formats=("jpg",), developer="libraw")


def test_archives_of_one_habit(tmp_path: Path) -> None:
    camera = EVAL_CAMERAS[0]
    night, _ = write_eval_archive(tmp_path / "n", camera, shots=40, seed=1, mix="night", formats=("dng",))
    day, _ = write_eval_archive(tmp_path / "d", camera, shots=40, seed=1, mix="daylight", formats=("dng",))
    darks, planted = write_eval_archive(tmp_path / "k", camera, shots=40, seed=1, mix="darks", formats=("dng",))
    share = [np.mean([s.exposure_time >= 1 for s in a.shots]) for a in (night, day)]
    assert share[0] > 0.6 and share[1] < 0.2
    assert 15 <= sum(s.dark for s in darks.shots) <= 20  # 15 in 25, none inside a burst
    healthy, none = write_eval_archive(tmp_path / "h", camera, shots=4, seed=1, defects=False, formats=("dng",))
    assert none == () and healthy.defects == ()
    seen = showing(darks, planted)
    kinds = [(p.defect.kind, p.grade, p.defect.onset) for p in planted]
    hot = kinds.index(("hot", "strong", 0))
    dead = next(i for i, p in enumerate(planted) if p.defect.kind == "dead")
    late = next(i for i, p in enumerate(planted) if p.defect.onset)
    assert all(seen[hot][s.index] for s in darks.shots if s.exposure_time >= 1)  # night scenes and darks
    assert not any(
        seen[hot][s.index] for s in darks.shots if s.exposure_time * s.iso < 1
    )  # under 1/100 s at ISO 100
    assert not any(seen[dead][s.index] for s in darks.shots if s.dark)  # black on black
    assert not any(seen[late][: planted[late].defect.onset])
