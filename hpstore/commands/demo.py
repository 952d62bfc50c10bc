"""``hpstore demo``: simulate a camera with planted defects, ingest its archive, check what the query finds."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpstore.commands.query import query
from hpstore.ingest.pipeline import OnEvent, ingest
from hpstore.settings import load_settings
from hpstore.testing.simulator import CameraSpec, Defect, plant_defects, write_archive

RGB_RADIUS = 2  # a developed defect may be reported up to 2 px from its photosite


@dataclass(frozen=True)
class DemoResult:
    rows: list[dict[str, Any]]
    planted: tuple[Defect, ...]
    found_raw: int
    found_rgb: int
    summary: str


def found(defects: tuple[Defect, ...], rows: list[dict[str, Any]], source: str) -> set[Defect]:
    """Planted defects that appear in ``rows`` of ``source`` (exact on RAW, within 2 px on developed images)."""
    radius = 0 if source == "raw" else RGB_RADIUS
    hits = [(r["row"], r["col"]) for r in rows if r["source"] == source and None not in (r["row"], r["col"])]
    return {d for d in defects if any(abs(d.row - r) <= radius and abs(d.col - c) <= radius for r, c in hits)}


def run_demo(
    *, photos: int = 40, keep: Path | None = None, on_event: OnEvent | None = None, seed: int = 2011
) -> DemoResult:
    """Write a RAW+JPEG archive of ``photos`` shots, ingest it into a fresh store and rank its pixels."""
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="hpstore-demo-"))
    try:
        camera = CameraSpec(make="Simcam", model="D-2011", serial="DEMO0001", height=400, width=600)
        defects = plant_defects(camera, np.random.default_rng(seed), hot=4, stuck=2, dead=2, partial=2)
        archive = write_archive(work / "archive", camera, defects, shots=photos, formats=("dng", "jpg"), seed=seed)
        settings = load_settings(env={}, store=work / "store")
        report = ingest([str(work / "archive")], settings, on_event=on_event)
        raw = query(settings, source="raw", top=20)
        rgb = query(settings, source="rgb", top=20)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    n_raw, n_rgb = len(found(archive.defects, raw, "raw")), len(found(archive.defects, rgb, "rgb"))
    total = len(archive.defects)
    where = f" (kept in {work})" if keep else ""
    summary = (
        f"demo: {report.ingested} files of {photos} shots ingested in {report.seconds:.1f} s; found {n_raw} of "
        f"{total} planted defects in RAW and {n_rgb} of {total} in JPEG{where}"
    )
    return DemoResult(raw + rgb, archive.defects, n_raw, n_rgb, summary)
