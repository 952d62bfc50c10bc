"""The catalog: which files were seen, what became of them, cameras and their state groups.

SQLite by default (a file in the store), any SQLAlchemy URL for shared use. The schema is created and
upgraded by Alembic on open. Write transactions on SQLite start with ``BEGIN IMMEDIATE`` and wait up to
30 s for the lock, so a read that turns into a write never fails with "database is locked".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import Engine, create_engine, delete, event, func, insert, null, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hpstore.errors import CatalogError
from hpstore.store.catalog.models import INGESTED, Camera, File, Group, Ranking
from hpstore.testing.faults import checkpoint


@dataclass(frozen=True)
class Photo:
    """An ingested file as the time-aware queries need it."""

    id: int
    path: str
    path_bytes: bytes | None
    hash: str | None
    group_id: int | None
    capture_time: dt.datetime | None
    exposure_time: float | None
    iso: float | None
    standouts: bytes | None


_CHUNK = 500  # rows per IN (...) lookup: far below SQLite's 32k variable limit


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sqlite_events(engine: Engine, readonly: bool, busy_ms: int = 30_000) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # pysqlite's own BEGIN handling is off: we emit BEGIN below
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        if not readonly:
            cur.execute("PRAGMA foreign_keys = ON")
            if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cur.execute("PRAGMA journal_mode = WAL")  # persistent; needs the database to itself once
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("hpstore_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


SCHEMA = "0006"  # the newest migration (a test checks it against Alembic's head): readers compare without Alembic


def _alembic_config() -> Any:
    from alembic.config import Config  # Alembic only where the schema is written

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("hpstore.migrations")))
    return cfg


class Catalog:
    """A handle on the catalog database. Cheap to create; call :meth:`close` (or use ``with``)."""

    def __init__(self, url: str, *, readonly: bool = False) -> None:
        self.url = url
        try:
            if readonly and url.startswith("sqlite:///") and "?" not in url:
                # A read-only store (permissions, a snapshot) is still queryable: no journal files written.
                url = f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
            self.engine = create_engine(url)
            if self.engine.dialect.name == "sqlite":
                _sqlite_events(self.engine, readonly)
            self._writer = self.engine.execution_options(hpstore_write=True)
            if readonly:
                self._upgrade_if_writable()
            else:
                self.upgrade()
        except SQLAlchemyError as err:
            raise CatalogError(f"cannot open catalog {self.url}: {err.__class__.__name__}: {err.args[0]}") from err

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def upgrade(self, revision: str = "head") -> None:
        """Bring the schema to ``revision``, the newest by default (creates it on an empty database). A
        catalog already at the newest needs no Alembic: a writer starts sooner."""
        if revision == "head" and self._revision() == SCHEMA:
            return
        from alembic import command

        cfg = _alembic_config()
        with self._writer.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def _upgrade_if_writable(self) -> None:
        """A reader of a store an older hpstore made: upgrade its schema where the database can be written
        (the migrations only add), else refuse."""
        try:
            self.check_revision()
        except CatalogError:
            with suppress(CatalogError):
                Catalog(self.url).close()
            self.check_revision()

    def _revision(self) -> str | None:
        """The schema revision the catalog records (None: no schema yet)."""
        with self.engine.connect() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except SQLAlchemyError:
                return None

    def check_revision(self) -> None:
        """Refuse a catalog whose schema is not the one this version of hpstore writes."""
        head, current = SCHEMA, self._revision()
        if current != head:
            raise CatalogError(
                f"catalog schema is at revision {current}, this hpstore needs {head}: "
                "run `hpstore ingest` once with write access to upgrade it"
            )

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in one write transaction, committed on success."""
        try:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                yield session
        except SQLAlchemyError as err:
            raise CatalogError(f"catalog write failed: {err.__class__.__name__}: {err.args[0]}") from err

    @contextmanager
    def read(self) -> Iterator[Session]:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                yield session
        except SQLAlchemyError as err:
            raise CatalogError(f"catalog read failed: {err.__class__.__name__}: {err.args[0]}") from err

    # ---- files --------------------------------------------------------------------------------------

    def files_by_path(self, paths: Sequence[str]) -> dict[str, File]:
        """Known catalog rows of the given paths."""
        found: dict[str, File] = {}
        with self.read() as s:
            for chunk in _chunks(paths):
                for row in s.scalars(select(File).where(File.path.in_(chunk))):
                    found[row.path] = row
        return found

    def ingested_hashes(self, hashes: Sequence[str]) -> dict[str, str]:
        """Map content hash -> path of the file counted with that content, for the hashes already ingested."""
        found: dict[str, str] = {}
        with self.read() as s:
            for chunk in _chunks(list(set(hashes))):
                stmt = select(File.hash, File.path).where(File.hash.in_(chunk), File.status == INGESTED)
                found.update((h, p) for h, p in s.execute(stmt) if h is not None)
        return found

    @staticmethod
    def _replace_files(session: Session, rows: Sequence[dict[str, Any]]) -> None:
        # Delete-then-insert is a portable upsert (SQLite, PostgreSQL) inside the caller's transaction.
        for chunk in _chunks(rows):
            session.execute(delete(File).where(File.path.in_([r["path"] for r in chunk])))
        if rows:
            stamp = now()
            session.execute(insert(File), [{"seen_at": stamp, **r} for r in rows])

    def record_files(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or replace file rows (keyed by path) in one transaction."""
        if rows:
            with self.write() as s:
                self._replace_files(s, rows)

    def set_standouts(self, blobs: dict[int, bytes]) -> None:
        """Replace the per-photo evidence of some files (by id) in one transaction; their groups count as
        updated (``updated_at``), so rankings kept for them no longer apply."""
        if blobs:
            with self.write() as s:
                for file_id, blob in blobs.items():
                    s.execute(update(File).where(File.id == file_id).values(standouts=blob))
                groups = select(File.group_id).where(File.id.in_(list(blobs))).distinct()
                s.execute(update(Group).where(Group.id.in_(groups)).values(updated_at=now()))

    # ---- rankings kept per state version ---------------------------------------------------------------

    def ranking(self, family: str, version: str, options: str) -> str | None:
        """The entries (JSON) kept for this family, state version and query options, if any."""
        stmt = select(Ranking.entries).where(
            Ranking.family == family, Ranking.version == version, Ranking.options == options
        )
        with self.read() as s:
            return s.scalar(stmt)

    def keep_ranking(self, family: str, version: str, options: str, entries: str) -> bool:
        """Keep a family's ranking, and drop those of its older versions. Best effort: a store that cannot be
        written (read-only files, a busy writer) keeps nothing, and False says so."""
        try:
            engine = create_engine(self.url)
            if engine.dialect.name == "sqlite":
                _sqlite_events(engine, readonly=False, busy_ms=500)  # never make a reader wait long
            try:
                with Session(engine.execution_options(hpstore_write=True)) as s, s.begin():
                    s.execute(delete(Ranking).where(Ranking.family == family, Ranking.version != version))
                    s.execute(
                        delete(Ranking).where(
                            Ranking.family == family, Ranking.version == version, Ranking.options == options
                        )
                    )
                    kept = {"family": family, "version": version, "options": options, "entries": entries}
                    s.add(Ranking(**kept, created_at=now()))
            finally:
                engine.dispose()
        except SQLAlchemyError:
            return False
        return True

    def commit_group(self, group_id: int, n: int, generation: int, rows: Sequence[dict[str, Any]]) -> None:
        """Point a group at a new state generation and record its files, atomically."""
        with self.write() as s:
            s.execute(
                update(Group).where(Group.id == group_id).values(n=n, generation=generation, updated_at=now())
            )
            self._replace_files(s, rows)
            checkpoint("catalog-open")

    def merge_groups(self, old_ids: Sequence[int], new_id: int, n: int, generation: int) -> None:
        """Point group ``new_id`` at its first generation and move the files of ``old_ids`` to it, deleting
        those groups, atomically (``hpstore compact``)."""
        with self.write() as s:
            s.execute(update(Group).where(Group.id == new_id).values(n=n, generation=generation, updated_at=now()))
            s.execute(update(File).where(File.group_id.in_(list(old_ids))).values(group_id=new_id))
            s.execute(delete(Group).where(Group.id.in_(list(old_ids))))
            checkpoint("catalog-open")

    def refile(
        self,
        states: dict[int, tuple[int, int]],
        moves: dict[int, tuple[int, int]],
        stamped: Sequence[int],
        reader: int,
    ) -> None:
        """Re-identified photos, atomically: point groups at their rebuilt generations (``states``: group ->
        (n, generation); n 0 empties a group), move files to other cameras and groups (``moves``: file ->
        (camera, group)), record the reader that identified ``stamped`` files, and delete the groups and
        cameras left without files (``hpstore check --repair``)."""
        with self.write() as s:
            stamp = now()
            for gid, (n, generation) in states.items():
                values = {"n": n, "generation": generation, "updated_at": stamp}
                s.execute(update(Group).where(Group.id == gid).values(**values))
            for fid, (camera_id, group_id) in moves.items():
                s.execute(update(File).where(File.id == fid).values(camera_id=camera_id, group_id=group_id))
            for chunk in _chunks(list(stamped)):
                s.execute(update(File).where(File.id.in_(chunk)).values(reader=reader))
            used_groups = select(File.group_id).where(File.group_id.is_not(None))
            emptied = [gid for gid, (n, _) in states.items() if n == 0]
            s.execute(delete(Group).where(Group.id.in_(emptied), Group.id.not_in(used_groups)))
            used_cameras = select(File.camera_id).where(File.camera_id.is_not(None))
            s.execute(
                delete(Camera).where(
                    Camera.id.not_in(used_cameras), Camera.id.not_in(select(Group.camera_id).distinct())
                )
            )
            checkpoint("catalog-open")

    def files(self, status: str | None = None, camera_ids: Iterable[int] | None = None) -> list[File]:
        stmt = select(File).order_by(File.path)
        if status:
            stmt = stmt.where(File.status == status)
        if camera_ids is not None:
            stmt = stmt.where(File.camera_id.in_(list(camera_ids)))
        with self.read() as s:
            return list(s.scalars(stmt))

    def file_counts(self) -> tuple[int, dict[int | None, int]]:
        """Files the catalog knows, and the ingested ones per group."""
        stmt = select(File.group_id, func.count()).where(File.status == INGESTED).group_by(File.group_id)
        with self.read() as s:
            per_group: dict[int | None, int] = {gid: n for gid, n in s.execute(stmt)}
            return s.scalar(select(func.count()).select_from(File)) or 0, per_group

    def camera_spans(self) -> dict[int | None, tuple[int, dt.datetime | None, dt.datetime | None]]:
        """Per camera: its ingested photos, and the first and last capture time among them."""
        stmt = (
            select(File.camera_id, func.count(), func.min(File.capture_time), func.max(File.capture_time))
            .where(File.status == INGESTED)
            .group_by(File.camera_id)
        )
        with self.read() as s:
            return {cid: (n, first, last) for cid, n, first, last in s.execute(stmt)}

    def focal_plane(self, camera_id: int, source: str) -> list[tuple[int, int, float, float]]:
        """(width, height, pixels per mm across, down) of a camera's ingested photos of ``source`` whose EXIF
        gives the focal-plane resolution."""
        stmt = select(File.width, File.height, File.px_per_mm_x, File.px_per_mm_y).where(
            File.camera_id == camera_id, File.source == source, File.status == INGESTED, File.px_per_mm_x > 0
        )
        with self.read() as s:
            return [(w, h, x, y or x) for w, h, x, y in s.execute(stmt) if w and h and x]

    # ---- cameras and groups ---------------------------------------------------------------------------

    def camera(self, key: str, make: str | None, model: str | None, serial: str | None) -> Camera:
        """The camera with this identity key, created on first sight."""
        with self.read() as s:
            found = s.scalars(select(Camera).where(Camera.key == key)).first()
        if found is not None:
            return found
        with self.write() as s:
            found = s.scalars(select(Camera).where(Camera.key == key)).first()
            if found is None:
                found = Camera(key=key, make=make, model=model, serial=serial, created_at=now())
                s.add(found)
                s.flush()
        return found

    def group(
        self,
        camera_id: int,
        source: str,
        height: int,
        width: int,
        channels: int,
        bits: int,
        exposure: str,
        period: str,
        **details: Any,
    ) -> Group:
        """The state group of a camera, source, geometry, exposure class and period, created on first
        sight."""
        where = (
            (Group.camera_id == camera_id)
            & (Group.source == source)
            & (Group.height == height)
            & (Group.width == width)
            & (Group.channels == channels)
            & (Group.bits == bits)
            & (Group.exposure == exposure)
            & (Group.period == period)
        )
        with self.read() as s:
            found = s.scalars(select(Group).where(where)).first()
        if found is not None:
            return found
        with self.write() as s:
            found = s.scalars(select(Group).where(where)).first()
            if found is None:
                found = Group(
                    camera_id=camera_id,
                    source=source,
                    height=height,
                    width=width,
                    channels=channels,
                    bits=bits,
                    exposure=exposure,
                    period=period,
                    n=0,
                    generation=0,
                    **details,
                )
                s.add(found)
                s.flush()
        return found

    def photos(self, group_ids: Iterable[int], *, standouts: bool = False) -> list[Photo]:
        """The ingested files of some groups in capture order (undated last), with their sparse evidence
        when asked."""
        blob = File.standouts if standouts else null()
        stmt = select(
            File.id,
            File.path,
            File.path_bytes,
            File.hash,
            File.group_id,
            File.capture_time,
            File.exposure_time,
            File.iso,
            blob,
        ).where(File.group_id.in_(list(group_ids)), File.status == INGESTED)
        with self.read() as s:
            rows = [Photo(*row) for row in s.execute(stmt)]
        rows.sort(key=lambda p: (p.capture_time is None, p.capture_time or dt.datetime.min, p.path))
        return rows

    def cameras(self) -> list[Camera]:
        with self.read() as s:
            return list(s.scalars(select(Camera).order_by(Camera.id)))

    def groups(self, camera_ids: Iterable[int] | None = None) -> list[Group]:
        stmt = select(Group).order_by(Group.camera_id, Group.source, Group.id)
        if camera_ids is not None:
            stmt = stmt.where(Group.camera_id.in_(list(camera_ids)))
        with self.read() as s:
            return list(s.scalars(stmt))

    def get_group(self, group_id: int) -> Group:
        with self.read() as s:
            found = s.get(Group, group_id)
        if found is None:
            raise CatalogError(f"no state group {group_id} in the catalog")
        return found
