"""Rankings kept per state version: a query answered from the catalog equals the one computed afresh, for
every option, and any change of the state or its evidence makes the next query compute again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hpstore.commands.query import query
from hpstore.detect.classes import MIN_SCORE
from hpstore.ingest.pipeline import ingest
from hpstore.settings import Settings
from hpstore.store.catalog import Catalog
from hpstore.store.catalog.models import Ranking
from hpstore.store.storage import Storage
from hpstore.testing.lifetime import write_life
from hpstore.testing.simulator import Archive
from hpstore.timeaxis import kept
from hpstore.timeaxis.window import Window, families

from .conftest import make_settings

OPTIONS: list[dict[str, Any]] = [
    {},
    {"top": 5},
    {"source": "raw", "kind": "hot"},
    {"min_score": 3.0, "top": 40},
    {"min_confidence": 0.9},
    {"until": "2021"},  # a window on a period boundary
    {"since": "2021-05-10", "until": "2022-02-03"},  # windows that cut periods: photos read again
]


def _kept(settings: Settings) -> int:
    with Storage(settings, create=False) as store, store.catalog.read() as s:
        return s.scalar(select(func.count()).select_from(Ranking)) or 0


def _fresh(settings: Settings, monkeypatch: pytest.MonkeyPatch, **options: Any) -> list[dict[str, Any]]:
    with monkeypatch.context() as patch:
        patch.setattr(kept, "KEEP", False)
        return query(settings, **options)


@pytest.fixture(scope="module")
def aging_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[str]]:
    """A camera's 4 years of RAW photos in yearly periods, the first 70 ingested (the rest for later)."""
    root = tmp_path_factory.mktemp("kept")
    archive, _ = write_life(root / "photos", shots=100)
    files = [str(s.paths["dng"]) for s in archive.shots]
    settings = make_settings(root / "store")
    ingest(files[:70], settings)
    return settings, files[70:]


def test_kept_rankings_equal_fresh_ones_for_every_option(
    aging_store: tuple[Settings, list[str]], archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simple = make_settings(tmp_path / "simple")
    ingest([str(archive.shots[0].paths["dng"].parent)], simple)  # RAW + JPEG of one camera
    for settings in (aging_store[0], simple):
        for options in OPTIONS:
            if settings is simple and ("since" in options or "until" in options):
                continue  # the simple archive spans a few days
            first = query(settings, **options)
            assert _kept(settings) > 0
            again = query(settings, **options)  # read back
            assert again == first == _fresh(settings, monkeypatch, **options), options


def test_a_new_ingest_makes_the_next_query_compute_again(
    aging_store: tuple[Settings, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, later = aging_store
    copy = make_settings(tmp_path / "store")
    shutil.copytree(settings.store, copy.store)
    before = query(copy, top=40)
    report = ingest(later, copy)
    assert report.ingested == len(later)
    after = query(copy, top=40)
    assert after == _fresh(copy, monkeypatch, top=40)
    assert after != before  # 30 more photos: counts and dates moved
    assert {r["n"] for r in after} != {r["n"] for r in before}


def test_a_read_only_catalog_answers_without_keeping(archive: Archive, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "store")
    ingest([str(archive.shots[0].paths["dng"])], settings)
    ingest([str(s.paths["dng"]) for s in archive.shots[1:8]], settings)
    with Storage(settings, create=False) as store:  # a reader keeps what it computed where it may write
        assert store.catalog.keep_ranking("x", "v", "[]", "[]")
        assert store.catalog.ranking("x", "v", "[]") == "[]"
    catalog = settings.store / "catalog.sqlite"
    readonly = Catalog(f"sqlite:///file:{catalog}?mode=ro&uri=true", readonly=True)
    try:
        assert not readonly.keep_ranking("x", "w", "[]", "[]")  # refused, quietly
        assert readonly.ranking("x", "v", "[]") == "[]"
    finally:
        readonly.close()
    assert query(settings, top=3)


def test_a_ranking_kept_by_other_code_is_not_served(
    aging_store: tuple[Settings, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = aging_store
    query(settings, top=7)
    with Storage(settings, create=False) as store:
        family = families(store.catalog.groups())[0]
        options = {"window": Window(), "top": 7, "min_score": MIN_SCORE, "kinds": None}
        assert kept.lookup(store.catalog, family, **options) is not None
        monkeypatch.setattr(kept, "code_version", lambda: "another hpstore")
        assert kept.lookup(store.catalog, family, **options) is None
