"""One writer per store: an exclusive ``flock`` on ``<store>/ingest.lock``, and with a catalog in
PostgreSQL also its advisory lock (:mod:`hpstore.store.serverlock`), which keeps writers on other machines out.
A store on object storage has no folder to lock: the advisory lock alone keeps its writers apart.

The lock dies with its process (even on SIGKILL), so it never needs cleaning. The file also records
who holds it, for the message a second writer gets, and a run marker (``ingest.run`` in the store's folder,
or next to the state on object storage) marks a run in progress: if it is still there when the lock is
taken, the previous run was interrupted.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol

from hpstore.errors import StoreBusy, StoreError
from hpstore.store.serverlock import ServerLock, is_server


class RunMarker(Protocol):
    """A small record that a run is in progress, where the store keeps it."""

    def read(self) -> dict[str, Any] | None:
        """The record, or None when no run left one."""

    def write(self, record: dict[str, Any]) -> None: ...

    def clear(self) -> None: ...


class FileMarker:
    """The run marker as a file (``<store>/ingest.run``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, Any] | None:
        return _read_path(self.path) if self.path.exists() else None

    def write(self, record: dict[str, Any]) -> None:
        self.path.write_text(json.dumps(record))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


class StoreLock:
    """Held for the duration of a ``with`` block; ``wait=False`` refuses instead of waiting."""

    def __init__(
        self,
        store: Path | None,
        *,
        wait: bool = True,
        on_wait: Any = None,
        mark_run: bool = True,
        catalog: str | None = None,
        marker: RunMarker | None = None,
    ) -> None:
        """``store`` is the folder to lock, or None for a store without one (on object storage), which
        needs a server ``catalog`` and its ``marker``."""
        self.catalog = catalog if catalog and is_server(catalog) else None
        if store is None and self.catalog is None:
            raise StoreError("a store without a folder needs a server catalog to hold its writer lock")
        self._server: ServerLock | None = None
        self.path = None if store is None else store / "ingest.lock"
        self.marker: RunMarker | None = marker
        if self.marker is None and store is not None:
            self.marker = FileMarker(store / "ingest.run")
        self.wait = wait
        self.mark_run = mark_run
        self.on_wait = on_wait
        self.interrupted_run: dict[str, Any] | None = None
        self._fh: IO[str] | None = None

    def __enter__(self) -> StoreLock:
        if self.path is not None:
            self._flock(self.path)
        if self.catalog:
            try:
                self._server = ServerLock(self.catalog, wait=self.wait, on_wait=self.on_wait).__enter__()
            except BaseException:
                self._release()
                raise
        if self._fh is not None:
            fh = self._fh
            fh.seek(0)
            fh.truncate()
            json.dump({"pid": os.getpid(), "started": dt.datetime.now().isoformat(timespec="seconds")}, fh)
            fh.flush()
        if self.mark_run and self.marker is not None:
            self.interrupted_run = self.marker.read()
            self.marker.write({"pid": os.getpid()})
        return self

    def _flock(self, path: Path) -> None:
        try:
            fh = open(path, "a+")  # noqa: SIM115 - held until __exit__
        except OSError as err:
            raise StoreError(f"cannot lock store {path.parent}: {err.strerror or err}") from err
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fh)
            who = f"pid {holder.get('pid', '?')}, started {holder.get('started', '?')}"
            if not self.wait:
                fh.close()
                raise StoreBusy(
                    f"another ingest ({who}) is writing to this store; try again when it ends"
                ) from None
            if self.on_wait:
                self.on_wait(f"waiting for another ingest ({who}) to finish")
            fcntl.flock(fh, fcntl.LOCK_EX)
        self._fh = fh

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None and self.mark_run and self.marker is not None:
            self.marker.clear()  # a clean end; an interrupted run leaves it behind
        if self._server is not None:
            self._server.__exit__(kind, err, tb)
            self._server = None
        self._release()

    def _release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def _read(fh: IO[str]) -> dict[str, Any]:
    fh.seek(0)
    try:
        data = json.loads(fh.read() or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _read_path(path: Path) -> dict[str, Any]:
    try:
        with open(path) as fh:
            return _read(fh)
    except OSError:
        return {}
