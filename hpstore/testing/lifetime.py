"""A camera's life, simulated: years of photos taken in sessions, defects appearing at known dates.

Serves the tests and ``bench/store_size.py`` of the time axis (first_seen, ``--until``, history, timeline).
Photos come in sessions of 1-6 shots a few minutes apart on random days over ``years``; each defect appears
at a known shot (its ``onset``), and its true onset date is that shot's capture time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpstore.testing.simulator import Archive, CameraSpec, Defect, write_archive

LIFE_CAMERA = CameraSpec(make="Simcam", model="L1", serial="LIFE0001", height=128, width=192, cfa="GRBG")
START = dt.datetime(2019, 1, 1)


@dataclass(frozen=True)
class Aging:
    """One planted defect of a simulated life, with its grade (``strong``/``medium``/``weak``)."""

    defect: Defect
    grade: str


def capture_times(shots: int, years: int, seed: int, start: dt.datetime = START) -> list[dt.datetime]:
    """Capture times of ``shots`` photos in sessions spread over ``years`` years, in order."""
    rng = np.random.default_rng([seed, 7])
    days = (start.replace(year=start.year + years) - start).days
    out: list[dt.datetime] = []
    while len(out) < shots:
        day = start + dt.timedelta(days=int(rng.integers(0, days)), hours=int(rng.integers(8, 23)))
        out.extend(day + dt.timedelta(minutes=3 * i) for i in range(int(rng.integers(1, 7))))
    return sorted(out[:shots])


def plant_aging(camera: CameraSpec, shots: int, seed: int) -> tuple[Aging, ...]:
    """Defects of every class, most appearing partway through the life, at well separated places."""
    rng = np.random.default_rng([seed, 8])
    taken: list[tuple[int, int]] = []

    def place() -> tuple[int, int]:
        while True:
            row, col = int(rng.integers(8, camera.height - 8)), int(rng.integers(8, camera.width - 8))
            if all(max(abs(row - r), abs(col - c)) >= 10 for r, c in taken):
                taken.append((row, col))
                return row, col

    layout = (
        ("hot", "strong", 300.0, 0.0),
        ("hot", "strong", 300.0, 0.3),
        ("hot", "medium", 120.0, 0.55),
        ("stuck", "strong", 1.0, 0.45),
        ("dead", "strong", 1.0, 0.7),
        ("partial", "strong", 1000.0, 0.2),
        ("partial", "medium", 400.0, 0.8),
        ("warm", "weak", 6.0, 0.0),
    )
    return tuple(
        Aging(Defect(*place(), kind, strength, onset=int(share * shots)), grade)
        for kind, grade, strength, share in layout
    )


def write_life(
    directory: Path,
    camera: CameraSpec = LIFE_CAMERA,
    *,
    shots: int = 120,
    years: int = 4,
    seed: int = 0,
    formats: tuple[str, ...] = ("dng",),
) -> tuple[Archive, tuple[Aging, ...]]:
    """Write a simulated life of ``shots`` photos over ``years`` years; return it with its defects."""
    aging = plant_aging(camera, shots, seed)
    archive = write_archive(
        directory,
        camera,
        [a.defect for a in aging],
        shots,
        formats=formats,
        seed=seed,
        times=capture_times(shots, years, seed),
        stars=True,
    )
    return archive, aging


def onset_error(archive: Archive, defect: Defect, first_seen: str | None) -> int | None:
    """How many photos after the true onset ``first_seen`` falls: 0 on the day of the first photo from the
    onset on; negative when it is before the onset; None when there is no first_seen."""
    if first_seen is None:
        return None
    seen = dt.datetime.fromisoformat(first_seen)
    times = [s.capture_time for s in archive.shots]
    onset_day = times[defect.onset].date()
    if seen.date() == onset_day:
        return 0
    if seen < times[defect.onset]:
        return -sum(1 for t in times[: defect.onset] if t >= seen)
    return sum(1 for t in times[defect.onset :] if t < seen)
