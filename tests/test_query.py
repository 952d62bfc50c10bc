"""Ranking on simulator archives: planted defects found, once each, with their class; no raw-variance ranking."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpstore import stats
from hpstore.commands.demo import found
from hpstore.commands.query import query, show
from hpstore.detect.cfa import Layout
from hpstore.detect.rank import Levels, rank
from hpstore.errors import BadArgument, CameraNotFound, StoreError
from hpstore.ingest.pipeline import ingest
from hpstore.settings import Settings
from hpstore.testing.simulator import Archive

from .conftest import make_settings


@pytest.fixture(scope="module")
def ingested(archive: Archive, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = make_settings(tmp_path_factory.mktemp("q") / "store")
    ingest([str(archive.shots[0].paths["dng"].parent)], settings)
    return settings


def test_raw_top20_holds_every_planted_defect_with_its_class(archive: Archive, ingested: Settings) -> None:
    rows = query(ingested, source="raw", top=20)
    assert {r["source"] for r in rows} == {"raw"}
    assert found(archive.defects, rows, "raw") == set(archive.defects)
    by_pos = {(r["row"], r["col"]): r for r in rows}
    for d in archive.defects:
        assert by_pos[(d.row, d.col)]["kind"] == d.kind, d
        assert by_pos[(d.row, d.col)]["channel"] == "RGGB"[(d.row % 2) * 2 + d.col % 2]
    # the planted defects outrank everything else
    assert {(r["row"], r["col"]) for r in rows[: len(archive.defects)]} == {
        (d.row, d.col) for d in archive.defects
    }


def test_jpeg_reports_each_defect_once_at_its_centre(archive: Archive, ingested: Settings) -> None:
    rows = query(ingested, source="rgb", top=20)
    hits = found(archive.defects, rows, "rgb")
    assert len(hits) >= len(archive.defects) - 1
    for d in hits:
        near = [r for r in rows if abs(r["row"] - d.row) <= 7 and abs(r["col"] - d.col) <= 7]
        assert len(near) == 1, (d, near)
        assert max(abs(near[0]["row"] - d.row), abs(near[0]["col"] - d.col)) <= 1


def test_json_fields_of_a_query_row(ingested: Settings) -> None:
    row = query(ingested, top=1)[0]
    for key in ("camera", "source", "row", "col", "channel", "kind", "score", "n", "mean", "std"):
        assert key in row
    assert row["camera"] == "TEST0001" and row["n"] == 30


def test_camera_and_argument_errors(ingested: Settings) -> None:
    assert query(ingested, camera="t100", top=3)
    assert query(ingested, camera="TEST0001", top=3)
    with pytest.raises(CameraNotFound, match="no camera matches"):
        query(ingested, camera="Nikon")
    with pytest.raises(BadArgument, match="source must be one of raw, rgb, not 'infrared'"):
        query(ingested, source="infrared")


def test_query_on_a_missing_store_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no hpstore store"):
        query(make_settings(tmp_path / "nothing"))


def _state(frames: np.ndarray) -> stats.State:
    return stats.update(stats.empty(frames.shape[1:]), frames)


def test_static_dark_area_is_not_ranked_but_an_exposure_dependent_hot_pixel_is() -> None:
    # The 2011 script ranked the least variance first: a static dark area would top it. Neighbourhood
    # z-scores must ignore it and find the hot pixel, whose value follows the exposure.
    rng = np.random.default_rng(5)
    n, h, w = 40, 64, 64
    exposure = rng.uniform(0.0, 1.0, n)
    frames = rng.normal(1000, 30, (n, h, w)) + 2000 * rng.uniform(0, 1, (n, 1, 1))
    frames[:, 10:30, 10:30] = 600 + rng.normal(0, 1, (n, 20, 20))  # static, dark, nearly constant
    frames[:, 40, 50] += 3000 * exposure
    state = _state(np.clip(frames, 0, 16383).astype(np.uint16)[..., None])
    top = rank(state, layout=Layout("raw", "RGGB", Levels(512, 16383)), top=5)
    assert (top[0].row, top[0].col, top[0].kind) == (40, 50, "hot")
    assert all(not (10 <= c.row < 30 and 10 <= c.col < 30) for c in top)
    var = state.m2 / state.n
    assert 10 <= np.unravel_index(np.argmin(var), var.shape)[0] < 30  # what the 2011 ranking would report


def test_corner_of_a_bright_area_is_not_a_defect() -> None:
    rng = np.random.default_rng(6)
    frames = rng.normal(1000, 20, (30, 48, 48))
    frames[:, 20:, 20:] += 4000  # a static bright rectangle: its corner is not an outlier
    state = _state(frames.astype(np.uint16)[..., None])
    assert rank(state, layout=Layout("raw", "RGGB", Levels(512, 16383)), top=5) == []


def test_kind_filter_lists_only_that_class(archive: Archive, ingested: Settings) -> None:
    rows = query(ingested, source="raw", kind="dead", top=20)
    assert rows and {r["kind"] for r in rows} == {"dead"}
    planted = {(d.row, d.col) for d in archive.defects if d.kind == "dead"}
    assert planted <= {(r["row"], r["col"]) for r in rows}
    with pytest.raises(BadArgument, match="kind must be one of hot, warm"):
        query(ingested, kind="purple")


def test_show_explains_a_defect_with_the_rankings_own_numbers(archive: Archive, ingested: Settings) -> None:
    hot = next(d for d in archive.defects if d.kind == "hot")
    ranked = next(r for r in query(ingested, source="raw", top=20) if (r["row"], r["col"]) == (hot.row, hot.col))
    (raw,) = show(ingested, camera="TEST0001", pixel=f"{hot.row},{hot.col}", source="raw")
    assert raw["kind"] == "hot" and raw["likely_defect"] and "grows with exposure" in raw["why"]
    for key in ("score", "mean", "std", "z_mean", "z_std"):
        assert raw[key] == pytest.approx(ranked[key], rel=1e-9)
    rgb = show(ingested, camera="TEST0001", pixel=f"{hot.row},{hot.col}", source="rgb")
    assert [r["channel"] for r in rgb] == ["R", "G", "B"]
    normal = show(ingested, camera="TEST0001", pixel="100,150", source="raw")[0]
    assert not normal["likely_defect"] and "within what its neighbourhood shows" in normal["why"]
    with pytest.raises(BadArgument, match="ROW,COL"):
        show(ingested, camera="TEST0001", pixel="12")


def test_show_and_query_apply_one_definition_of_a_defect(ingested: Settings) -> None:
    for source in ("raw", "rgb"):
        for row in query(ingested, source=source, top=20):
            if row["row"] is None or row["col"] is None:
                continue  # a bad line
            entries = show(ingested, camera="TEST0001", pixel=f"{row['row']},{row['col']}", source=source)
            (entry,) = [e for e in entries if e["channel"] == row["channel"]]
            assert entry["likely_defect"], (row, entry["why"])
            for key in ("score", "confidence", "consistency", "kind", "unconfirmed"):
                assert entry[key] == pytest.approx(row[key]), (key, row, entry)


def test_bad_column_and_row_are_reported_once_as_lines(tmp_path: Path) -> None:
    from hpstore.testing.simulator import CameraSpec, Defect, write_archive

    camera = CameraSpec(make="Simcam", model="L1", serial="LINE0001", height=160, width=240)
    defects = [Defect(0, 151, "column", 250.0), Defect(90, 0, "row", -200.0), Defect(40, 40, "stuck")]
    write_archive(tmp_path / "photos", camera, defects, shots=25, formats=("dng", "jpg"), seed=11)
    settings = make_settings(tmp_path / "store")
    ingest([str(tmp_path / "photos")], settings)
    raw = query(settings, source="raw", top=10)
    lines = [(r["kind"], r["row"], r["col"]) for r in raw if r["kind"].startswith("bad_")]
    assert sorted(lines) == [("bad_column", None, 151), ("bad_row", 90, None)]
    assert not any(r["col"] == 151 or r["row"] == 90 for r in raw if not r["kind"].startswith("bad_"))
    assert (40, 40) in {(r["row"], r["col"]) for r in raw}
    rgb = query(settings, source="rgb", top=10)
    rgb_lines = [r for r in rgb if r["kind"].startswith("bad_")]
    assert len(rgb_lines) == 2
    column = next(r for r in rgb_lines if r["kind"] == "bad_column")
    assert abs(column["col"] - 151) <= 1
    assert query(settings, source="raw", kind="bad_column") == [r for r in raw if r["kind"] == "bad_column"]


def test_min_confidence_keeps_the_likely_entries_in_their_order(ingested: Settings) -> None:
    every = query(ingested, top=200, min_score=3)
    likely = query(ingested, top=200, min_score=3, min_confidence=0.9)
    assert likely and len(likely) < len(every)  # scores 3-6 are mostly noise: confidence well below 0.9
    assert all(r["confidence"] >= 0.9 for r in likely)
    assert likely == [r for r in every if r["confidence"] >= 0.9]
    with pytest.raises(BadArgument):
        query(ingested, min_confidence=1.5)
