"""Storage: the catalog and state of one store (a directory holding the Zarr state and, by default, the
SQLite catalog; or a prefix on object storage with a server catalog), opened together."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpstore.errors import StoreError
from hpstore.settings import Settings
from hpstore.store.catalog import Catalog
from hpstore.store.lock import StoreLock

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
            self._state = state_of(self.settings)
        return self._state

    @staticmethod
    def writer_lock(
        settings: Settings, *, wait: bool = True, on_wait: Any = None, mark_run: bool = True
    ) -> StoreLock:
        """The lock that keeps a second writer out of this store: the folder's flock, and the server
        catalog's advisory lock when there is one (the only one for a store on object storage)."""
        if settings.url:
            from hpstore.store.state import ObjectStateStore

            marker = ObjectStateStore.from_url(settings.url).marker("ingest.run")
            return StoreLock(
                None, wait=wait, on_wait=on_wait, mark_run=mark_run, catalog=settings.catalog, marker=marker
            )
        return StoreLock(settings.store, wait=wait, on_wait=on_wait, mark_run=mark_run, catalog=settings.catalog)

    @staticmethod
    def require(settings: Settings) -> None:
        """Refuse a store that does not exist yet (for commands that must not create one)."""
        if settings.url:
            return  # its catalog says whether it holds anything
        root = settings.store
        if not (root / "state.zarr").exists() and settings.catalog_url is None:
            raise StoreError(f"no hpstore store at {root} (ingest photos into it first, or name another store)")

    @staticmethod
    def prepare(settings: Settings) -> None:
        """Create the store directory (a writer takes the store's lock in it before opening the catalog). A
        store on object storage needs no preparing: its prefix exists once something is written."""
        if settings.url:
            return
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
        if self.settings.url:
            return []
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


def state_of(settings: Settings) -> StateStore:
    """The state store ``settings`` name: the store folder's ``state.zarr``, or the object-storage URL."""
    from hpstore.store.state import LocalStateStore, ObjectStateStore

    if settings.url:
        return ObjectStateStore.from_url(settings.url)
    return LocalStateStore(settings.state_path)
