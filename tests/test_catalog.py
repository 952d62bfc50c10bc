"""The catalog schema: Alembic migrations create exactly what the models describe; upserts keep one row a path."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from hpstore.store.catalog import FAILED, INGESTED, Catalog
from hpstore.store.catalog.db import SCHEMA, _alembic_config
from hpstore.store.catalog.models import Base


def test_migrations_match_the_models(tmp_path: Path) -> None:
    with Catalog(f"sqlite:///{tmp_path / 'c.sqlite'}") as catalog, catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert MigrationContext.configure(conn).get_current_revision() == SCHEMA
    assert diff == []
    # Readers check the schema against SCHEMA without loading Alembic: it must name Alembic's head.
    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == SCHEMA


def test_reopening_an_upgraded_catalog_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    with Catalog(url) as catalog:
        camera = catalog.camera("Make|Model|1", "Make", "Model", "1")
        catalog.record_files([{"path": "/a.jpg", "status": FAILED, "reason": "broken", "camera_id": camera.id}])
    with Catalog(url) as catalog:
        assert [c.key for c in catalog.cameras()] == ["Make|Model|1"]
        assert catalog.camera("Make|Model|1", "Make", "Model", "1").id == camera.id
    with Catalog(url, readonly=True) as catalog:
        assert [f.path for f in catalog.files()] == ["/a.jpg"]


def test_recording_a_path_again_replaces_its_row(tmp_path: Path) -> None:
    with Catalog(f"sqlite:///{tmp_path / 'c.sqlite'}") as catalog:
        catalog.record_files([{"path": "/a.jpg", "status": FAILED, "reason": "truncated"}])
        catalog.record_files([{"path": "/a.jpg", "status": INGESTED, "hash": "ab" * 32}])
        rows = catalog.files()
        assert [(r.path, r.status, r.reason) for r in rows] == [("/a.jpg", INGESTED, None)]
        assert catalog.ingested_hashes(["ab" * 32, "cd" * 32]) == {"ab" * 32: "/a.jpg"}


def test_group_commit_moves_generation_and_files_together(tmp_path: Path) -> None:
    with Catalog(f"sqlite:///{tmp_path / 'c.sqlite'}") as catalog:
        cam = catalog.camera("k", "M", "m", None)
        group = catalog.group(cam.id, "rgb", 10, 20, 3, 8, "short", "2021")
        assert catalog.group(cam.id, "rgb", 10, 20, 3, 8, "short", "2021").id == group.id
        rotated = catalog.group(cam.id, "rgb", 20, 10, 3, 8, "short", "2021")
        assert rotated.id != group.id  # rotated array: another group
        assert catalog.group(cam.id, "rgb", 10, 20, 3, 8, "long", "2021").id != group.id  # another exposure class
        assert catalog.group(cam.id, "rgb", 10, 20, 3, 8, "short", "2022").id != group.id  # another period
        catalog.commit_group(group.id, 5, 1, [{"path": f"/{i}.jpg", "status": INGESTED} for i in range(5)])
        stored = catalog.get_group(group.id)
        assert (stored.n, stored.generation) == (5, 1)
        assert len(catalog.files(INGESTED)) == 5


def test_upgrading_a_store_from_before_exposure_classes_and_periods_keeps_its_groups(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    old = Catalog.__new__(Catalog)
    old.engine = create_engine(url)
    old._writer = old.engine.execution_options(hpstore_write=True)
    old.upgrade("0001")
    with old.engine.begin() as conn:
        conn.execute(text("INSERT INTO cameras (id, key, created_at) VALUES (1, 'k', '2020-01-01')"))
        conn.execute(
            text(
                "INSERT INTO groups (id, camera_id, source, height, width, channels, bits, n, generation) "
                "VALUES (7, 1, 'raw', 10, 20, 1, 16, 3, 2)"
            )
        )
    old.close()
    with Catalog(url) as catalog:
        group = catalog.get_group(7)
        assert (group.exposure, group.period, group.n, group.generation) == ("all", "all", 3, 2)
        assert catalog.group(1, "raw", 10, 20, 1, 16, "long", "2021").id != 7
