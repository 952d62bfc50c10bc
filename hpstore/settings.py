"""One frozen settings object, built from defaults, environment variables and explicit overrides.

Environment variables (all optional):

``HPSTORE_STORE``
    Store directory (default: ``<user data dir>/hpstore/store``), or the URL of a store on object storage
    (``s3://bucket/prefix``, ``gs://...``, ``az://...``), which needs a server catalog.
``HPSTORE_CATALOG``
    SQLAlchemy URL of the catalog (default: SQLite file ``catalog.sqlite`` inside the store directory).
``HPSTORE_WORKERS``
    Decoder threads (default: number of CPUs).
``HPSTORE_BATCH_MB``
    Memory for decoded frames waiting to be folded, in MiB (default 1536: 16 frames of 24 MP RGB
    plus one per decoder; less memory folds fewer frames at once, which costs speed, never exactness).
``HPSTORE_BATCH_FRAMES``
    Most frames folded at once (default 16).
``HPSTORE_PERIOD``
    Calendar period of the states new photos go to: ``year`` (default), ``quarter`` or ``month``. Finer
    periods answer ``--since``/``--until`` at more dates without re-reading photos, and cost one dense state
    per period (see ``hpstore.timeaxis.periods``).
``HPSTORE_DASK``
    Address of a Dask scheduler (``tcp://host:8786``) whose workers ingest (``hpstore.ingest.cluster``).
``HPSTORE_DASK_CHUNK``
    Files per task on the Dask workers (default 64): each task's partial sums are merged with the others',
    so larger chunks move fewer sums between workers (a 24 MP group's sums are about 0.9 GB, moved once per
    chunk: ``bench/scale.py``), and a worker that dies loses more work.
``HPSTORE_COMMIT_SECONDS``
    Commit state and catalog at least this often during a long ingest, in seconds (default 60; 0 commits
    after every batch).
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

from hpstore.errors import BadArgument
from hpstore.timeaxis import periods

OBJECT_SCHEMES = ("s3", "gs", "gcs", "az", "azure", "abfs", "abfss")  # stores obstore reaches


def default_store() -> Path:
    """Per-user default store directory (e.g. ``~/.local/share/hpstore/store`` on Linux)."""
    return Path(platformdirs.user_data_dir("hpstore", appauthor=False)) / "store"


def parse_store(text: str | os.PathLike[str]) -> tuple[Path | None, str | None]:
    """(directory, None) for a path or ``file://`` URL; (None, url) for an object-storage URL. Other URLs
    are refused by name."""
    raw = os.fspath(text)
    scheme, sep, _ = raw.partition("://")
    if not sep or len(scheme) < 2:  # a Windows drive letter is not a scheme
        return Path(raw), None
    if scheme.lower() == "file":
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(raw).path)), None
    if scheme.lower() in OBJECT_SCHEMES:
        if not raw.split("://", 1)[1].strip("/"):
            raise BadArgument(f"{raw!r} names no bucket: give {scheme}://bucket/prefix")
        return None, raw.rstrip("/")
    known = ", ".join(f"{s}://" for s in OBJECT_SCHEMES[:3] + OBJECT_SCHEMES[3:4])
    raise BadArgument(f"stores at {scheme}:// URLs are not supported: give a folder, a file:// URL, or {known}")


@dataclass(frozen=True)
class Settings:
    """Everything a library call needs to know about where and how to work."""

    store: Path  # the store's directory; for a store on object storage, a local folder that is never used
    catalog_url: str | None = None
    url: str | None = None  # the store's object-storage URL (``s3://bucket/prefix``); None: the directory
    workers: int = max(1, os.cpu_count() or 1)
    batch_mb: int = 1536
    commit_seconds: float = 60.0
    max_batch_frames: int = 16
    period: str = "year"
    dask: str | None = None  # scheduler address: ingest on its workers
    dask_chunk: int = 64

    @property
    def location(self) -> str:
        """Where the store is, for messages: its URL or its directory."""
        return self.url or str(self.store)

    @property
    def catalog(self) -> str:
        """SQLAlchemy URL of the catalog."""
        if self.url:
            if not self.catalog_url or self.catalog_url.startswith("sqlite"):
                raise BadArgument(
                    f"a store on object storage ({self.url}) needs a server catalog that every machine reaches: "
                    "set HPSTORE_CATALOG or --catalog to a postgresql+psycopg://... URL"
                )
            return self.catalog_url
        if self.catalog_url:
            return self.catalog_url
        return f"sqlite:///{self.store / 'catalog.sqlite'}"

    @property
    def state_path(self) -> Path:
        """Directory of the Zarr v3 state hierarchy."""
        return self.store / "state.zarr"

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as err:
        raise BadArgument(f"{name}={raw!r} is not a whole number") from err
    if value < 1:
        raise BadArgument(f"{name} must be at least 1, got {value}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as err:
        raise BadArgument(f"{name}={raw!r} is not a number (seconds)") from err
    if not 0 <= value < float("inf"):  # 0: commit after every batch
        raise BadArgument(f"{name}={raw!r} must be 0 seconds or more")
    return value


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from the environment, then apply explicit overrides (e.g. from CLI options)."""
    env = os.environ if env is None else env
    store, url = parse_store(env["HPSTORE_STORE"]) if env.get("HPSTORE_STORE") else (default_store(), None)
    if overrides.get("store") is not None:
        store, url = parse_store(overrides.pop("store"))  # type: ignore[arg-type]
    settings = Settings(
        store=store or default_store(),
        url=url,
        catalog_url=env.get("HPSTORE_CATALOG") or None,
        workers=_int(env, "HPSTORE_WORKERS", max(1, os.cpu_count() or 1)),
        batch_mb=_int(env, "HPSTORE_BATCH_MB", 1536),
        commit_seconds=_seconds(env, "HPSTORE_COMMIT_SECONDS", 60.0),
        max_batch_frames=_int(env, "HPSTORE_BATCH_FRAMES", 16),
        period=periods.check_size(env.get("HPSTORE_PERIOD") or "year"),
        dask=env.get("HPSTORE_DASK") or None,
        dask_chunk=_int(env, "HPSTORE_DASK_CHUNK", 64),
    )
    settings = settings.with_(**overrides)
    periods.check_size(settings.period)
    if settings.url:
        settings.catalog  # noqa: B018 - refuse a store on object storage without a server catalog, now
    return replace(settings, store=Path(settings.store).expanduser().absolute())
