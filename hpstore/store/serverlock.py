"""One writer per store across machines: a PostgreSQL advisory lock in the catalog's database.

``flock`` does not cross machines. A store whose catalog lives in PostgreSQL is written by whoever holds a
session-level advisory lock on :data:`KEY` in that database, through a connection of its own (in autocommit,
so it is never left idle in a transaction). PostgreSQL releases the lock when the session ends, also when
the writer's process or machine dies and the server notices the connection is gone: no stale lock to clean.
The catalog holds one store, so one key per database is one writer per store.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from hpstore.errors import StoreBusy, StoreError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

KEY = 0x6870_7374_6F72_6531  # "hpstore1": the writer's advisory lock key, the same in every database
_POLL = 0.5  # seconds between tries while waiting, so that a message can be given once


def is_server(url: str) -> bool:
    """Whether the catalog URL names a server database whose advisory lock can keep writers apart."""
    return url.split(":", 1)[0].split("+", 1)[0] == "postgresql"


class ServerLock:
    """Held for the duration of a ``with`` block; ``wait=False`` refuses instead of waiting."""

    def __init__(self, url: str, *, wait: bool = True, on_wait: Callable[[str], None] | None = None) -> None:
        self.url, self.wait, self.on_wait = url, wait, on_wait
        self.name = f"hpstore writer pid {os.getpid()} on {socket.gethostname()}"[:63]
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    def __enter__(self) -> ServerLock:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import SQLAlchemyError
        from sqlalchemy.pool import NullPool

        try:
            named = {"application_name": self.name}
            engine = create_engine(self.url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args=named)
            self._engine = engine
            conn = self._conn = engine.connect()
            told = False
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": KEY}).scalar():
                who = self._holder()
                if not self.wait:
                    raise StoreBusy(f"another ingest ({who}) is writing to this store; try again when it ends")
                if self.on_wait and not told:
                    self.on_wait(f"waiting for another ingest ({who}) to finish")
                    told = True
                time.sleep(_POLL)
        except SQLAlchemyError as err:
            self._close()
            raise StoreError(f"cannot take the store's writer lock in {self.url}: {err}") from err
        except BaseException:
            self._close()
            raise
        return self

    def _holder(self) -> str:
        """Who holds the lock, as the server knows it (the application name the writer gave)."""
        from sqlalchemy import text

        assert self._conn is not None
        row = self._conn.execute(
            text(
                "SELECT a.application_name, a.client_addr FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND (l.classid::bigint << 32 | l.objid::bigint) = :k"
            ),
            {"k": KEY & 0xFFFF_FFFF_FFFF_FFFF},
        ).first()
        return (row[0] or f"a session from {row[1]}") if row else "a session that just ended"

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # ends the session: PostgreSQL releases its advisory locks
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
