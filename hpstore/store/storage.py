"""Storage: the catalog and state of one store (a directory holding the Zarr state and, by default, the
SQLite catalog), opened together."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hpstore.errors import StoreError
from hpstore.settings import Settings
from hpstore.store.catalog import Catalog

if TYPE_CHECKING:
    from hpstore.store.state import StateStore


class Storage:
    """Catalog and state of one store. ``create=False`` refuses to make a new, empty store."""

    def __init__(self, settings: Settings, *, create: bool = True) -> None:
        self.settings = settings
        if not create:
            self.require(settings)
        if create:
            self.prepare(settings)
        self.catalog = Catalog(settings.catalog, readonly=not create)
        self._state: StateStore | None = None

    @property
    def state(self) -> StateStore:
        """The Zarr state, opened on first use (a query answered from kept rankings never needs it)."""
        if self._state is None:
            from hpstore.store.state import LocalStateStore

            self._state = LocalStateStore(self.settings.state_path)
        return self._state

    @staticmethod
    def require(settings: Settings) -> None:
        """Refuse a store that does not exist yet (for commands that must not create one)."""
        root = settings.store
        if not (root / "state.zarr").exists() and settings.catalog_url is None:
            raise StoreError(f"no hpstore store at {root} (ingest photos into it first, or name another store)")

    @staticmethod
    def prepare(settings: Settings) -> None:
        """Create the store directory (a writer takes the store's lock in it before opening the catalog)."""
        root = settings.store
        try:
            root.mkdir(parents=True, exist_ok=True)
            (root / "state.zarr").mkdir(exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create store {root}: {err.strerror or err}") from err
        if not os.access(root, os.W_OK):
            raise StoreError(f"store {root} is not writable")

    @property
    def path(self) -> Path:
        return self.settings.store

    def own_files(self) -> list[Path]:
        """The store's own files and folders (never photos, even when the store lies in the archive)."""
        root = self.settings.store
        names = ["state.zarr", "ingest.lock", "ingest.run", "catalog.sqlite", "catalog.sqlite-wal"]
        return [root / name for name in [*names, "catalog.sqlite-shm", "catalog.sqlite-journal"]]

    def garbage(self) -> list[tuple[int, int]]:
        """(group, generation) pairs in the state that the catalog does not point at."""
        current = {g.id: g.generation for g in self.catalog.groups()}
        return [
            (gid, gen)
            for gid in sorted(self.state.group_ids())
            for gen in self.state.generations(gid)
            if current.get(gid) != gen
        ]

    def collect_garbage(self) -> list[tuple[int, int]]:
        """Delete what :meth:`garbage` lists. Only a holder of the writer lock may call this."""
        found = self.garbage()
        for gid, gen in found:
            self.state.drop(gid, gen)
        return found

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
