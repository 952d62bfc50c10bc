"""The report page (issue 16): one self-contained HTML file, every image embedded, the sensor map placing
each defect; drawn by a real browser when one is installed."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from hpstore.cli.main import app
from PIL import Image
from typer.testing import CliRunner

import hpstore
from hpstore.errors import BadArgument
from hpstore.testing.simulator import CameraSpec, Defect, write_archive

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CAMERA = CameraSpec(make="Simcam", model="R100", serial="REP00001", height=200, width=300)
DEFECTS = [Defect(40, 60, "stuck"), Defect(120, 201, "stuck", onset=20), Defect(80, 150, "hot", 400.0)]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.circles: list[dict[str, str | None]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "img":
            self.images.append(found.get("src") or "")
        if tag == "circle":
            self.circles.append(found)
        for key in ("href", "src"):
            if tag != "img" and found.get(key):
                self.links.append(found[key] or "")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("report")
    write_archive(root / "photos", CAMERA, DEFECTS, shots=40, formats=("dng",), seed=3)
    store = root / "store"
    with hpstore.open(store) as opened:
        opened.ingest([root / "photos"])
    html, png = root / "report.html", root / "map.png"
    args = ["--store", str(store), "report", "--camera", "REP00001", "-o", str(html), "--png", str(png)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "3 defects of camera REP00001 (raw), 3 shown in close-up" in result.stdout
    return store, html, png


def test_the_page_embeds_every_image_and_places_each_defect(page: tuple[Path, Path, Path]) -> None:
    _, html, png = page
    parsed = _Page()
    parsed.feed(html.read_text())
    assert parsed.links == []  # nothing to fetch: the page opens offline
    # the timeline chart, then a close-up and a neighbourhood per defect
    assert len(parsed.images) == 1 + 2 * len(DEFECTS)
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as image:
            assert image.width > 50 and np.asarray(image).std() > 0  # a picture, not a blank
    scale = 900 / CAMERA.width
    placed = {
        (round(float(c["cy"] or 0) / scale - 0.5), round(float(c["cx"] or 0) / scale - 0.5))
        for c in parsed.circles
    }
    assert placed == {(d.row, d.col) for d in DEFECTS}
    with Image.open(png) as drawn:
        assert drawn.size == (900, 600)
        marks = np.argwhere((np.asarray(drawn.convert("RGB")).astype(int) - [244, 244, 244]).any(axis=2))
        assert len(marks) > 100  # the outline and the dots


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to draw the page (Debian: apt-get install chromium)")
def test_a_browser_draws_the_page_with_its_pictures(page: tuple[Path, Path, Path], tmp_path: Path) -> None:
    assert CHROMIUM is not None
    _, html, _ = page
    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--screenshot={shot}",
        "--window-size=1000,2400",
    ]
    subprocess.run([*cmd, html.as_uri()], capture_output=True, timeout=120, check=True)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # the sensor map's dots and the crops' greys are there, not just text on white
    coloured = (np.abs(pixels - pixels.mean(axis=2, keepdims=True)) > 40).any(axis=2)
    grey = (pixels.std(axis=2) < 3) & (pixels.mean(axis=2) < 200) & (pixels.mean(axis=2) > 20)
    assert coloured.sum() > 500 and grey.sum() > 5000


def test_a_clean_camera_gets_its_outline_and_an_unknown_source_an_error(tmp_path: Path) -> None:
    clean = CameraSpec(serial="CLEAN001", height=120, width=160)
    write_archive(tmp_path / "photos", clean, [], shots=12, formats=("jpg",), seed=5)
    with hpstore.open(tmp_path / "store") as store:
        store.ingest([tmp_path / "photos"])
        found = store.report("CLEAN001")
        with pytest.raises(BadArgument, match="no raw photos"):
            store.report("CLEAN001", source="raw")
    assert found.defects == 0 and found.source == "rgb"
    assert "<svg" in found.html and "the sensor is clean" in found.html
    with Image.open(io.BytesIO(base64.b64decode(found.png.split(",", 1)[1]))) as drawn:
        assert drawn.size == (900, round(120 * 900 / 160))
