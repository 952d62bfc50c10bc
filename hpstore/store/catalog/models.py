"""Catalog tables (SQLAlchemy 2 declarative). The schema itself is created by the Alembic migrations in
``hpstore.migrations``; a test checks that these models and the migrations agree."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hpstore.types import Status

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# File statuses. ``ingested`` files are counted in their group's state; the others never are.
INGESTED = Status.INGESTED.value
DUPLICATE = Status.DUPLICATE.value
FAILED = Status.FAILED.value
SKIPPED = Status.SKIPPED.value
STATUSES = (INGESTED, DUPLICATE, FAILED, SKIPPED)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Camera(Base):
    """A camera body: EXIF make, model and serial; ``key`` is the identity used for grouping."""

    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    make: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    serial: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Group(Base):
    """One accumulated state: a camera, a source (``raw`` mosaic or developed ``rgb``), one geometry, one
    exposure class (``short``/``long``, see ``hpstore.timeaxis.exposure``; ``all`` in stores made before the split)
    and one calendar period of capture dates (see ``hpstore.timeaxis.periods``; ``all`` before periods existed).

    ``generation`` names the Zarr arrays that hold the committed state; ``n`` is the number of frames in it.
    """

    __tablename__ = "groups"
    __table_args__ = (
        UniqueConstraint(
            "camera_id",
            "source",
            "height",
            "width",
            "channels",
            "bits",
            "exposure",
            "period",
            name="uq_groups_geometry",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"), index=True)
    source: Mapped[str] = mapped_column(String(8))
    height: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    bits: Mapped[int] = mapped_column(Integer)
    exposure: Mapped[str] = mapped_column(String(8), server_default="all")
    period: Mapped[str] = mapped_column(String(16), server_default="all")
    pattern: Mapped[str | None] = mapped_column(String(64))
    black_level: Mapped[float | None] = mapped_column(Float)
    white_level: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer, default=0)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class File(Base):
    """Every file an ingest has seen, with what became of it."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(Text, unique=True)
    size: Mapped[int | None] = mapped_column(Integer)
    mtime: Mapped[float | None] = mapped_column(Float)
    hash: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    format: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(8))
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("cameras.id"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), index=True)
    height: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    capture_time: Mapped[dt.datetime | None] = mapped_column(DateTime)
    exposure_time: Mapped[float | None] = mapped_column(Float)
    iso: Mapped[float | None] = mapped_column(Float)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    standouts: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # see hpstore.ingest.scan
    # EXIF focal-plane resolution: with height and width, the sensor's size in mm
    px_per_mm_x: Mapped[float | None] = mapped_column(Float)
    px_per_mm_y: Mapped[float | None] = mapped_column(Float)
    # The path's bytes when ``path`` (its text) cannot give them back: a name that is not UTF-8
    path_bytes: Mapped[bytes | None] = mapped_column(LargeBinary)
    temperature: Mapped[float | None] = mapped_column(Float)  # the sensor's, °C, where the file records it
    frame_type: Mapped[str | None] = mapped_column(String(8))  # light, dark, flat or bias, where the file says
    reader: Mapped[int | None] = mapped_column(Integer)  # hpstore.io.READER that identified it; None: older


class Ranking(Base):
    """A family's ranked defects for one state version and one set of query options (see
    ``hpstore.timeaxis.defects``): written by the first query of that state, read by the later ones."""

    __tablename__ = "rankings"
    __table_args__ = (UniqueConstraint("family", "version", "options", name="uq_rankings_family_version_options"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    family: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(64))
    options: Mapped[str] = mapped_column(Text)
    entries: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
