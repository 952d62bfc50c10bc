"""hpstore: find hot, stuck and dead sensor pixels in photo archives, and keep the evidence.

Use from Python (each method is one ``hpstore`` command)::

    import hpstore

    with hpstore.open("~/hpstore-store") as store:
        store.ingest(["~/Pictures/2024"])
        for camera in store.cameras():
            print(camera.camera, camera.make, camera.model, camera.photos)
        for defect in store.query(top=20, kind=hpstore.Kind.HOT):
            print(defect.row, defect.col, defect.kind, defect.confidence, defect.first_seen)

The way of the data, and the package that holds each step: ``io`` (discover, identify, decode), ``stats``
(mergeable statistics), ``ingest`` (the pipeline and the per-photo scan), ``store`` (Zarr state, catalog,
lock), ``detect`` (ranking and classes), ``timeaxis`` (periods, dating, defects over a window), the
commands (``query``, ``history``, ``check``, ``compact``) and ``testing`` (the camera simulator).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpstore.errors import HpstoreError
from hpstore.types import (
    Camera,
    Defect,
    FileRecord,
    Kind,
    Period,
    PixelPeriod,
    PixelReport,
    Source,
    Status,
    Timeline,
    TimelinePeriod,
    TimelineYear,
)

if TYPE_CHECKING:
    from hpstore.api import Store, open
    from hpstore.commands.check import CheckReport
    from hpstore.commands.compact import CompactReport
    from hpstore.ingest.pipeline import Event, IngestReport

__version__ = "0.1.0"
__all__ = [
    "Camera",
    "CheckReport",
    "CompactReport",
    "Defect",
    "Event",
    "FileRecord",
    "HpstoreError",
    "IngestReport",
    "Kind",
    "Period",
    "PixelPeriod",
    "PixelReport",
    "Source",
    "Status",
    "Store",
    "Timeline",
    "TimelinePeriod",
    "TimelineYear",
    "open",
]


_LAZY = {
    "open": "hpstore.api",
    "Store": "hpstore.api",
    "IngestReport": "hpstore.ingest.pipeline",
    "Event": "hpstore.ingest.pipeline",
    "CheckReport": "hpstore.commands.check",
    "CompactReport": "hpstore.commands.compact",
}


def __getattr__(name: str) -> Any:
    # These bring numpy, zarr and SQLAlchemy: loaded when first used, so that ``import hpstore`` (and
    # ``hpstore --help``) stays instant.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'hpstore' has no attribute {name!r}")
