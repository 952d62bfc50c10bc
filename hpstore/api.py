"""The Python API: one object per store, one method per command, typed arguments and results.

>>> import hpstore
>>> with hpstore.open("~/hpstore-store") as store:  # doctest: +SKIP
...     report = store.ingest(["~/Pictures/2024"])
...     for defect in store.query(top=20, kind=hpstore.Kind.HOT):
...         print(defect.camera, defect.row, defect.col, defect.confidence)
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from hpstore.detect.classes import MIN_SCORE
from hpstore.settings import Settings, load_settings
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
)

if TYPE_CHECKING:
    from hpstore.commands.check import CheckReport
    from hpstore.commands.compact import CompactReport
    from hpstore.export import Export
    from hpstore.export.repair import Fixed
    from hpstore.export.report import Report
    from hpstore.ingest.pipeline import Event, IngestReport

# The commands are imported inside the methods: reading kept rankings needs neither the state (zarr) nor the
# ranking's compiled kernels, so that a repeated query starts at once.

CameraRef = str | int | Camera
Pixel = tuple[int, int]


def open(  # the name sqlite-utils and zarr give the same thing
    store: str | os.PathLike[str] | None = None,
    *,
    catalog: str | None = None,
    workers: int | None = None,
    period: Period | str | None = None,
) -> Store:
    """Open a store (created by its first ingest).

    Parameters
    ----------
    store
        The store's directory (``~`` is expanded), its ``file://`` URL, or the URL of a store on object
        storage (``s3://bucket/prefix``, ``gs://...``, ``az://...``; credentials and endpoint from the
        standard ``AWS_*`` variables). Default: ``$HPSTORE_STORE``, else ``hpstore/store`` in the user's
        data directory.
    catalog
        SQLAlchemy URL of a shared catalog (e.g. ``postgresql+psycopg://...``; a store on object storage
        needs one). Default: ``$HPSTORE_CATALOG``, else the SQLite file ``catalog.sqlite`` in the store.
    workers
        Decoder threads for ingests (default: ``$HPSTORE_WORKERS``, else the number of CPUs).
    period
        Calendar period of the states new photos go to (default: ``$HPSTORE_PERIOD``, else year).

    Returns
    -------
    Store
        Use it in a ``with`` block, or call :meth:`Store.close`.
    """
    overrides: dict[str, Any] = {"store": store}
    overrides.update(catalog_url=catalog, workers=workers, period=None if period is None else str(period))
    return Store(load_settings(**overrides))


def _camera(ref: CameraRef | None) -> str | None:
    if isinstance(ref, Camera):
        return str(ref.id)
    return None if ref is None else str(ref)


class Store:
    """A store: the Zarr state of every camera and the catalog of the files ingested.

    Each method is one ``hpstore`` command; the records it returns have ``to_dict()``, which gives the
    JSON fields the command prints. A camera is named by a :class:`Camera`, its catalog id, its body
    serial, or text found in its make and model.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @property
    def path(self) -> os.PathLike[str]:
        """The store's directory (for a store on object storage, see :attr:`location`)."""
        return self.settings.store

    @property
    def location(self) -> str:
        """The store's directory, or its object-storage URL."""
        return self.settings.location

    def __repr__(self) -> str:
        return f"hpstore.Store({self.settings.location!r})"

    def close(self) -> None:
        """Nothing stays open between calls; kept so that a store can be used like a file."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ingest(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        wait: bool = True,
        on_event: Callable[[Event], None] | None = None,
        dask: str | None = None,
    ) -> IngestReport:
        """Add photos to the store; files already in the catalog are passed over.

        Parameters
        ----------
        paths
            Files, folders (walked recursively) and glob patterns; ``~`` is expanded.
        wait
            If another ingest is writing the store: wait for it (default), or raise ``StoreBusy``.
        on_event
            Called with each progress :class:`~hpstore.ingest.pipeline.Event` (phases, files done, problems).
        dask
            Address of a Dask scheduler (``tcp://host:8786``; default ``$HPSTORE_DASK``): its workers read,
            decode and fold the files (which they must reach at the same paths), and the store's chunks when
            it is on object storage (see :mod:`hpstore.ingest.cluster`). The result equals a local ingest's.

        Returns
        -------
        IngestReport
            Counts of the files ingested, duplicate, failed, skipped and already there.
        """
        files = [os.fspath(p) for p in paths]
        address = dask or self.settings.dask
        if address:
            from hpstore.ingest import cluster

            chunk = self.settings.dask_chunk
            return cluster.ingest(files, self.settings, address, on_event=on_event, wait=wait, chunk=chunk)
        from hpstore.ingest.pipeline import ingest

        return ingest(files, self.settings, on_event=on_event, wait=wait)

    def cameras(self) -> list[Camera]:
        """Every camera with photos in the store.

        Returns
        -------
        list of Camera
            With their sources, image sizes, photo counts and capture date ranges, in catalog order.
        """
        from hpstore.commands import query as _query

        return [Camera.from_dict(row) for row in _query.cameras(self.settings)]

    def query(
        self,
        *,
        top: int = 20,
        camera: CameraRef | None = None,
        source: Source | str | None = None,
        kind: Kind | str | None = None,
        min_score: float = MIN_SCORE,
        min_confidence: float = 0.0,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
    ) -> list[Defect]:
        """The defects found, best first.

        Parameters
        ----------
        top
            How many entries, at most.
        camera, source, kind
            Only this camera, source or class.
        min_score
            Only entries scoring at least this (a robust z; the default keeps a healthy camera's list
            almost empty).
        min_confidence
            Only entries at least this likely to be real defects (0-1).
        since, until
            Rank as the photos captured in this window would; both ends included (a ``date`` includes its
            whole day, the text ``"2021"`` its whole year).

        Returns
        -------
        list of Defect
        """
        from hpstore.commands import query as _query

        rows = _query.query(
            self.settings,
            camera=_camera(camera),
            source=None if source is None else str(source),
            top=top,
            min_score=min_score,
            kind=None if kind is None else str(kind),
            since=since,
            until=until,
            min_confidence=min_confidence,
        )
        return [Defect.from_dict(row) for row in rows]

    def show(self, camera: CameraRef, pixel: Pixel, *, source: Source | str | None = None) -> list[PixelReport]:
        """Why one pixel is (or is not) a defect.

        Parameters
        ----------
        camera
            The one camera (an error when the text names several).
        pixel
            ``(row, col)`` of the stored array, EXIF orientation not applied.
        source
            Only this source (default: every source the camera has).

        Returns
        -------
        list of PixelReport
            Per source and channel: the ``Defect`` fields, its statistics next to its neighbourhood's,
            ``likely_defect``, the reason in words (``why``) and its ``exposure_classes``.
        """
        label = _camera(camera)
        assert label is not None
        from hpstore.commands import query as _query

        rows = _query.show(
            self.settings, camera=label, pixel=pixel, source=None if source is None else str(source)
        )
        return [PixelReport.from_dict(row) for row in rows]

    def history(
        self,
        camera: CameraRef,
        pixel: Pixel,
        *,
        period: Period | str = Period.MONTH,
        source: Source | str | None = None,
    ) -> list[PixelPeriod]:
        """One pixel through time.

        Parameters
        ----------
        camera
            The one camera.
        pixel
            ``(row, col)`` of the stored array.
        period
            Calendar period to count by.
        source
            Only this source (default: every source).

        Returns
        -------
        list of PixelPeriod
            Per source and period: its photos (``photos``, ``long_photos``), in how many it stood out
            (``stood_out``) and by how much (``excess_mean``), and where the store keeps states of that
            period, its mean and spread next to its neighbourhood's.
        """
        label = _camera(camera)
        assert label is not None
        from hpstore.commands import history as _history

        rows = _history.history(
            self.settings,
            camera=label,
            pixel=pixel,
            period=str(period),
            source=None if source is None else str(source),
        )
        return [PixelPeriod.from_dict(row) for row in rows]

    def export(
        self,
        camera: CameraRef,
        to: str,
        *,
        top: int = 1000,
        kind: Kind | str | None = None,
        min_score: float = MIN_SCORE,
        min_confidence: float = 0.5,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
        geometry: str | None = None,
    ) -> Export:
        """One camera's defects as a map for another program.

        Parameters
        ----------
        camera
            The one camera (an error when the text names several).
        to
            ``dcraw`` (LibRaw's and dcraw's ``-P`` file), ``rawtherapee`` (the camera's ``.badpixels``),
            ``siril`` (the list ``cosme_cfa`` reads), ``csv`` or ``json`` (the query's fields).
        top, kind, min_score, min_confidence, since, until
            As for :meth:`query`; a map keeps entries at least even odds of being real defects by default,
            and never those the photos show as light in the scene (``extended``).
        geometry
            ``WIDTHxHEIGHT`` of the RAW photos to map, when the camera has several sizes.

        Returns
        -------
        Export
            The map's text, the file name its program looks for, and what it holds.
        """
        from hpstore.export import export

        return export(
            self.settings,
            camera=_camera(camera) or "",
            to=to,
            top=top,
            kind=None if kind is None else str(kind),
            min_score=min_score,
            min_confidence=min_confidence,
            since=since,
            until=until,
            geometry=geometry,
        )

    def fix(
        self,
        camera: CameraRef,
        photos: Iterable[str | os.PathLike[str]],
        out: str | os.PathLike[str],
        *,
        min_score: float = MIN_SCORE,
        min_confidence: float = 0.5,
    ) -> list[Fixed]:
        """Repaired copies of one camera's JPEG, PNG, TIFF and DNG photos in the folder ``out``.

        Each defect active at a photo's capture time (its ``first_seen`` at or before it) is painted over
        with its JPEG smear from the pixels around it; a JPEG keeps its quantization tables, chroma
        subsampling, EXIF, ICC and XMP. A DNG copy carries the defects as a FixBadPixelsList opcode, and
        repaired photosites where its data is uncompressed. Originals are never written, and ``out`` may not
        be the folder of any of the photos.

        Parameters
        ----------
        camera
            The one camera the photos are from (photos of other cameras are skipped).
        photos
            Files, folders (walked recursively) and glob patterns.
        min_score, min_confidence
            Which defects to repair, as for :meth:`query`.

        Returns
        -------
        list of Fixed
            Per photo: fixed (with the copy's path), unchanged (no defect active then) or skipped (why).
        """
        from hpstore.export import fix

        return fix(
            self.settings,
            camera=_camera(camera) or "",
            photos=[os.fspath(p) for p in photos],
            out=os.fspath(out),
            min_score=min_score,
            min_confidence=min_confidence,
        )

    def report(
        self,
        camera: CameraRef,
        *,
        source: Source | str | None = None,
        top: int = 1000,
        min_confidence: float = 0.5,
    ) -> Report:
        """One camera's defects on a self-contained HTML page (every image embedded; it opens offline).

        The page shows the sensor with each defect placed by class and score, a close-up of each defect from a
        photo where it stood out (its CFA colour's samples for RAW, the developed pixels for JPEG) next to
        its neighbourhood, in how many photos it stood out per period, and the sensor's timeline.

        Parameters
        ----------
        camera
            The one camera.
        source
            ``raw`` or ``rgb`` (default: raw when the camera has RAW photos).
        top, min_confidence
            Which defects, as for :meth:`query`.

        Returns
        -------
        Report
            The page (``html``) and the sensor map as a PNG data URI (``png``).
        """
        from hpstore.export.report import report

        return report(
            self, _camera(camera) or "", source=None if source is None else str(source), top=top,
            min_confidence=min_confidence,
        )  # fmt: skip

    def timeline(
        self,
        camera: CameraRef,
        *,
        period: Period | str = Period.YEAR,
        source: Source | str | None = None,
        sensor_mm: tuple[float, float] | None = None,
        top: int = 500,
        min_score: float = MIN_SCORE,
    ) -> Timeline:
        """A sensor's ageing.

        Parameters
        ----------
        camera
            The one camera.
        period
            Calendar period to count by.
        source
            The source to count (default: raw when the camera has RAW photos).
        sensor_mm
            The sensor's (width, height) in mm, for defects per mm² (default: from EXIF, when given).
        top, min_score
            The defects counted: the ``top`` ones scoring at least ``min_score``.

        Returns
        -------
        Timeline
            ``periods`` (per period: photos, defects present and new, by class), ``years``, ``defects``,
            ``at_start``, ``new_per_year``, ``new_per_year_per_megapixel`` and ``new_per_year_per_mm2``.
        """
        label = _camera(camera)
        assert label is not None
        src = None if source is None else str(source)
        from hpstore.commands import history as _history

        found = _history.timeline(
            self.settings,
            camera=label,
            period=str(period),
            source=src,
            sensor_mm=sensor_mm,
            top=top,
            min_score=min_score,
        )
        return Timeline.from_dict(found)

    def files(self, *, status: Status | str | None = None, camera: CameraRef | None = None) -> list[FileRecord]:
        """Every file the catalog knows, with what became of it.

        Parameters
        ----------
        status
            Only files of this status (``Status.FAILED``: those that could not be read, with ``reason``).
        camera
            Only files of this camera.

        Returns
        -------
        list of FileRecord
            In path order.
        """
        from hpstore.commands import query as _query

        rows = _query.files(self.settings, status=None if status is None else str(status), camera=_camera(camera))
        return [FileRecord.from_dict(row) for row in rows]

    def compact(
        self, before: dt.date | str, *, camera: CameraRef | None = None, dry_run: bool = False
    ) -> CompactReport:
        """Merge each camera's periods that end by ``before`` into one, to bound the store's size.

        Parameters
        ----------
        before
            Periods ending by this date are merged (never the year of a camera's last photo).
        camera
            Only this camera.
        dry_run
            Say what would be merged; change nothing.

        Returns
        -------
        CompactReport
            ``merged`` (what was merged into what) and the state's bytes before and after.
        """
        from hpstore.commands import compact as _compact

        return _compact.compact(self.settings, before=before, camera=_camera(camera), dry_run=dry_run)

    def check(self, *, repair: bool = False) -> CheckReport:
        """Check the store: every state readable, frame counts equal to the catalog's, no leftovers, and
        every photo an older hpstore identified filed with its camera.

        Parameters
        ----------
        repair
            Remove leftovers of interrupted commits and move misfiled photos, rebuilding the states
            concerned (takes the writer lock).

        Returns
        -------
        CheckReport
            ``ok``, ``problems``, ``repaired`` and ``notes``, each one line.
        """
        from hpstore.commands import check as _check

        return _check.check(self.settings, repair=repair)
