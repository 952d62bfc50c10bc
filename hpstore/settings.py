"""One frozen settings object, built from defaults, environment variables and explicit overrides.

Environment variables (all optional):

``HPSTORE_STORE``
    Store directory (default: ``<user data dir>/hpstore/store``).
``HPSTORE_CATALOG``
    SQLAlchemy URL of the catalog (default: SQLite file ``catalog.sqlite`` inside the store).
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
``HPSTORE_COMMIT_SECONDS``
    Commit state and catalog at least this often during a long ingest, in seconds (default 60; 0 commits
    after every batch).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import platformdirs

from hpstore.errors import BadArgument
from hpstore.timeaxis import periods


def default_store() -> Path:
    """Per-user default store directory (e.g. ``~/.local/share/hpstore/store`` on Linux)."""
    return Path(platformdirs.user_data_dir("hpstore", appauthor=False)) / "store"


@dataclass(frozen=True)
class Settings:
    """Everything a library call needs to know about where and how to work."""

    store: Path
    catalog_url: str | None = None
    workers: int = max(1, os.cpu_count() or 1)
    batch_mb: int = 1536
    commit_seconds: float = 60.0
    max_batch_frames: int = 16
    period: str = "year"

    @property
    def catalog(self) -> str:
        """SQLAlchemy URL of the catalog."""
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
    store = Path(env["HPSTORE_STORE"]) if env.get("HPSTORE_STORE") else default_store()
    settings = Settings(
        store=store,
        catalog_url=env.get("HPSTORE_CATALOG") or None,
        workers=_int(env, "HPSTORE_WORKERS", max(1, os.cpu_count() or 1)),
        batch_mb=_int(env, "HPSTORE_BATCH_MB", 1536),
        commit_seconds=_seconds(env, "HPSTORE_COMMIT_SECONDS", 60.0),
        max_batch_frames=_int(env, "HPSTORE_BATCH_FRAMES", 16),
        period=periods.check_size(env.get("HPSTORE_PERIOD") or "year"),
    )
    settings = settings.with_(**overrides)
    periods.check_size(settings.period)
    return replace(settings, store=Path(settings.store).expanduser().absolute())
