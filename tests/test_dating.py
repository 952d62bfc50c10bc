"""Sharper first sightings: found defects looked for again at their own photosites in earlier photos."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from hpstore.commands.query import query
from hpstore.ingest.pipeline import ingest
from hpstore.settings import Settings
from hpstore.store.storage import Storage
from hpstore.testing.evaluation import EVAL_CAMERAS, showing, write_eval_archive
from hpstore.timeaxis import dating, onset

from .conftest import make_settings


def test_a_known_defect_shows_against_the_median_of_its_partners_on_its_side() -> None:
    frame = 100.0 + np.random.default_rng(1).normal(0.0, 4.0, (30, 30, 1))
    frame[10, 10, 0] += 25  # about 6 times the noise above its partners
    frame[20, 20, 0] = np.median(frame[[18, 22, 20, 20], [20, 20, 18, 22], 0]) + 6  # 1.5 times: noise does that
    frame[5, 5, 0] -= 25
    frame[15, 15, 0] += 25
    frame[15, 17, 0] += 60  # a brighter partner: a slope of the scene, not a sighting
    at = {
        name: onset.target(r, c, frame.shape, source="raw", sign=1, dark=True)
        for name, r, c in (("hot", 10, 10), ("faint", 20, 20), ("dark", 5, 5), ("slope", 15, 15))
    }
    excess, noise = dating._excess_at(frame, at["hot"], 2)
    assert 3.0 < noise < 5.5 and 15 < excess[0] < 35
    for name in ("faint", "dark", "slope"):
        assert dating._excess_at(frame, at[name], 2)[0].tolist() == [0.0], name


def _right(settings: Settings, archive, planted) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Found strong and medium point defects dated on the day of the first photo that shows them or at
    most 3 photos later, and how many were found."""
    shows = showing(archive, planted)
    rows = {(r["row"], r["col"]): r for r in query(settings, source="raw", top=40)}
    right = found = 0
    for i, p in enumerate(planted):
        row = rows.get((p.defect.row, p.defect.col))
        if p.grade == "weak" or i not in shows or row is None or not any(shows[i]):
            continue
        found += 1
        truth = archive.shots[shows[i].index(True)].capture_time
        when = dt.datetime.fromisoformat(row["first_seen"])
        late = sum(truth <= s.capture_time < when for s in archive.shots)
        right += when.date() == truth.date() or (when >= truth and late <= 3)
    return right, found


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("dating")
    return write_eval_archive(
        root / "photos", EVAL_CAMERAS[1], shots=80, seed=12, mix="daylight", formats=("dng",)
    )


def test_found_defects_are_dated_from_photos_read_again(night, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    archive, planted = night
    paths = sorted(str(s.paths["dng"]) for s in archive.shots)
    order = np.random.default_rng(3).permutation(len(paths))
    settings = make_settings(tmp_path / "store")
    reports = [ingest([paths[i] for i in order[k::3]], settings) for k in range(3)]  # shuffled, three cards
    assert sum(r.reread for r in reports) > 0
    right, found = _right(settings, archive, planted)
    assert found >= 8 and right >= found - 1
    with Storage(settings) as store:  # every photo that could show a defect was looked at once
        again = dating.refine(store, [g.id for g in store.catalog.groups()])
    assert again.photos == 0

    monkeypatch.setattr(dating, "PER_DEFECT", 0)  # without reading photos again
    plain = make_settings(tmp_path / "plain")
    assert all(ingest([paths[i] for i in order[k::3]], plain).reread == 0 for k in range(3))
    assert _right(plain, archive, planted)[0] < right  # measured: 6 of 9 without, 9 of 9 with
