"""A catalog in PostgreSQL (issue 17): the same answers as SQLite, and one writer per store across machines
through the database's advisory lock. Needs a server: ``.ci/run`` starts a throw-away cluster and sets
``HPSTORE_TEST_POSTGRES`` to its maintenance database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hpstore
from hpstore.errors import StoreBusy
from hpstore.store.serverlock import ServerLock
from hpstore.testing.simulator import CameraSpec, Defect, write_archive

SERVER = os.environ.get("HPSTORE_TEST_POSTGRES")
pytestmark = pytest.mark.skipif(
    not SERVER, reason="no PostgreSQL server: set HPSTORE_TEST_POSTGRES (.ci/run starts one)"
)
CAMERA = CameraSpec(make="Simcam", model="P100", serial="PG000001", height=120, width=160)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pg")
    defects = [Defect(30, 40, "stuck"), Defect(70, 101, "hot", 400.0), Defect(90, 20, "stuck", onset=8)]
    write_archive(root / "photos", CAMERA, defects, shots=16, formats=("dng", "jpg"), seed=6)
    return root / "photos"


def test_a_postgresql_catalog_gives_the_answers_sqlite_gives(
    pg_catalog: str, photos: Path, tmp_path: Path
) -> None:
    answers = []
    for store, url in ((tmp_path / "local", None), (tmp_path / "shared", pg_catalog)):
        with hpstore.open(store, catalog=url) as opened:
            report = opened.ingest([photos])
            assert report.ingested == 32
            answers.append(
                (
                    [d.to_dict() for d in opened.query(top=50)],
                    [(f.path, f.status, f.hash) for f in opened.files()],
                    [(c.camera, c.photos, c.sources) for c in opened.cameras()],
                    [r.to_dict() for r in opened.history("PG000001", (30, 40), period="month")],
                )
            )
    assert answers[0] == answers[1]
    assert len(answers[0][0]) >= 3


def test_the_advisory_lock_keeps_a_second_writer_out_until_released(
    pg_catalog: str, photos: Path, tmp_path: Path
) -> None:
    # Two store folders on "two machines": only the catalog is shared, so flock cannot see the other writer.
    with (
        ServerLock(pg_catalog),
        hpstore.open(tmp_path / "other", catalog=pg_catalog) as other,
        pytest.raises(StoreBusy, match="hpstore writer pid"),
    ):
        other.ingest([photos], wait=False)
    with hpstore.open(tmp_path / "other", catalog=pg_catalog) as other:
        assert other.ingest([photos], wait=False).ingested == 32
