"""Detection evaluation (issue 4) on simulator archives of 150 RAW+JPEG shots with graded planted defects
and the scenes that fool simpler detectors (stars on a tracking mount, static bursts, dark frames).
``bench/detection.py`` prints the same figures, per class, next to rawpy.enhance.find_bad_pixels."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpstore.commands.query import query, show
from hpstore.detect.rank import rank
from hpstore.ingest.pipeline import ingest
from hpstore.settings import Settings
from hpstore.store.storage import Storage
from hpstore.testing.evaluation import EVAL_CAMERAS, Planted, evaluate, write_eval_archive
from hpstore.timeaxis.families import family_state
from hpstore.timeaxis.window import families, layout_of

from .conftest import make_settings

SHOTS = 150


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, tuple[Planted, ...]]]:
    root = tmp_path_factory.mktemp("detect")
    planted = {}
    for seed, camera in enumerate(EVAL_CAMERAS):
        _, planted[camera.serial or ""] = write_eval_archive(root / camera.model, camera, shots=SHOTS, seed=seed)
    settings = make_settings(root / "store")
    ingest([str(root)], settings)
    return settings, planted


@pytest.mark.parametrize("camera", [c.serial for c in EVAL_CAMERAS])
def test_raw_top20_holds_every_strong_and_medium_defect_with_few_false(
    evaluated: tuple[Settings, dict[str, tuple[Planted, ...]]], camera: str
) -> None:
    settings, planted = evaluated
    ev = evaluate(planted[camera], query(settings, camera=camera, source="raw", top=20), "raw")
    summary = ev.summary()
    assert summary["strong_medium_found"] == summary["strong_medium_planted"], ev.matched
    assert summary["not_defects"] <= 2, ev.false
    assert summary["class_right"] >= 0.9 * summary["found"]
    # the defect that appeared halfway through, and both of the pair side by side, are there
    kinds = {(p.defect.onset > 0, p.defect.kind) for i, p in enumerate(ev.planted) if i in ev.matched}
    assert (True, "hot") in kinds


@pytest.mark.parametrize("camera", [c.serial for c in EVAL_CAMERAS])
def test_jpeg_top20_meets_the_target(
    evaluated: tuple[Settings, dict[str, tuple[Planted, ...]]], camera: str
) -> None:
    settings, planted = evaluated
    ev = evaluate(planted[camera], query(settings, camera=camera, source="rgb", top=20), "rgb")
    summary = ev.summary()
    assert summary["strong_medium_found"] >= 0.9 * summary["strong_medium_planted"]
    assert summary["not_defects"] <= 4, ev.false
    assert summary["class_right"] >= 0.9 * summary["found"]


def test_hot_and_warm_are_told_apart_by_their_exposure_response(
    evaluated: tuple[Settings, dict[str, tuple[Planted, ...]]],
) -> None:
    settings, planted = evaluated
    camera = EVAL_CAMERAS[1].serial or ""
    rows = query(settings, camera=camera, source="raw", top=20)
    ev = evaluate(planted[camera], rows, "raw")
    for i, p in enumerate(ev.planted):
        if i in ev.matched and p.defect.kind in ("hot", "warm") and p.defect.onset == 0:
            row = ev.matched[i]
            assert row["kind"] == p.defect.kind, (p, row)
            # the fitted dark current is within a factor of two of the planted one (DN/s at ISO 100)
            assert 0.5 * p.defect.strength < row["dark_rate"] < 2 * p.defect.strength, (p, row)
            assert 0 < row["confidence"] <= 1 and row["n_long"] > 10


def test_show_explains_a_hot_pixel_per_exposure_class(
    evaluated: tuple[Settings, dict[str, tuple[Planted, ...]]],
) -> None:
    settings, planted = evaluated
    camera = EVAL_CAMERAS[0].serial or ""
    hot = next(p.defect for p in planted[camera] if p.defect.kind == "hot" and p.grade == "strong")
    (entry,) = show(settings, camera=camera, pixel=f"{hot.row},{hot.col}", source="raw")
    classes = {c["exposure"]: c for c in entry["exposure_classes"]}
    assert set(classes) == {"short", "long"}
    assert classes["short"]["n"] + classes["long"]["n"] == SHOTS
    long_excess = classes["long"]["mean"] - classes["long"]["neighbour_mean"]
    short_excess = classes["short"]["mean"] - classes["short"]["neighbour_mean"]
    assert long_excess > 20 * max(short_excess, 1.0)  # it shows in long exposures, hardly in daylight
    assert entry["kind"] == "hot" and entry["likely_defect"] and "grows with exposure" in entry["why"]


def test_per_photo_evidence_drops_only_scene_light_and_keeps_a_smeared_partial(
    evaluated: tuple[Settings, dict[str, tuple[Planted, ...]]],
) -> None:
    settings, planted = evaluated
    camera = EVAL_CAMERAS[1].serial or ""
    rows = query(settings, camera=camera, source="rgb", top=20)
    with Storage(settings, create=False) as store:
        cam = next(c for c in store.catalog.cameras() if c.serial == camera)
        (family,) = [f for f in families(store.catalog.groups([cam.id])) if f[0].source == "rgb"]
        fs = family_state(store, family)
        assert fs is not None
        by_means = rank(fs.state, layout=layout_of(family[0]), top=20, classes=fs.classes)
    kept = {(r["row"], r["col"]) for r in rows}
    dropped = [c for c in by_means if (c.row, c.col) not in kept]
    # The means and their pair statistics list few stars and glints that fell on a pixel in a few photos,
    # (they are not apart from their neighbours photo after photo) ...
    assert len(evaluate(planted[camera], [c.as_dict() for c in by_means], "rgb").false) <= 4
    ev = evaluate(planted[camera], [c.as_dict() for c in dropped], "rgb")
    assert not ev.matched  # ... and the per-photo evidence drops none of the planted defects
    partial = next(p.defect for p in planted[camera] if p.defect.kind == "partial" and p.grade == "strong")
    near = [
        r
        for r in rows
        if r["row"] is not None and max(abs(r["row"] - partial.row), abs(r["col"] - partial.col)) <= 1
    ]
    # Its blue smear looks like scene light by the means; it stood out in photos of many scenes.
    assert near and near[0]["kind"] == "partial" and near[0]["extended"] and near[0]["seen_in"] >= 5
    # show says the same, with the photos that decided it
    entries = show(settings, camera=camera, pixel=f"{partial.row},{partial.col}", source="rgb")
    decided = [e for e in entries if e["extended"] and e["likely_defect"]]
    assert decided and "scenes: a defect" in decided[0]["why"] and decided[0]["first_seen"] is not None


def test_a_star_on_a_tracking_mount_is_not_reported(
    evaluated: tuple[Settings, dict[str, tuple[Planted, ...]]], tmp_path: Path
) -> None:
    settings, planted = evaluated
    camera = EVAL_CAMERAS[0].serial or ""
    rows = query(settings, camera=camera, source="raw", top=200, min_score=6)
    ev = evaluate(planted[camera], rows, "raw")
    # stars of the burst are bright in its frames on the same photosites; only defects and a few
    # borderline entries remain even far down the list
    assert len(ev.false) <= 5, ev.false
