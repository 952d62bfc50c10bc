"""Detection evaluation: simulator archives with graded planted defects, and scoring of a ranked list.

Serves the test-suite and ``bench/detection.py``. An evaluation archive of one camera holds defects of every
class at three strengths (strong, medium, weak), two defects that appear partway through the archive, a
pair of hot photosites side by side, and a bad column; and the scenes that fool simpler detectors: saturated
highlights, starry night skies, a burst of the same daylight scene with its sharp edges, a burst of the
same starry sky on a tracking mount (the stars stay on the same photosites), and a few lens-cap dark frames.

A reported entry matches a planted defect at the same photosite on RAW, within ``RGB_RADIUS`` on developed
images (demosaicing and JPEG move a defect's peak by up to a pixel); a bad column matches its column. Each
defect is matched once; a second entry on the same defect counts as a false one.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpstore.testing.simulator import Archive, CameraSpec, Defect, noise_model, shot_settings, write_archive

RGB_RADIUS = 1
GRADES = ("strong", "medium", "weak")
# Planted kind -> the class a report must give it.
EXPECTED = {
    "hot": "hot",
    "warm": "warm",
    "stuck": "stuck",
    "dead": "dead",
    "partial": "partial",
    "column": "bad_column",
    "row": "bad_row",
}
# (kind, grade, strength): dark current DN/s at ISO 100 for hot/warm, DN for partial and column offsets.
_LAYOUT = (
    ("hot", "strong", 300.0),
    ("hot", "medium", 120.0),
    ("hot", "weak", 70.0),
    ("warm", "medium", 15.0),
    ("warm", "weak", 6.0),
    ("stuck", "strong", 1.0),
    ("dead", "strong", 1.0),
    ("partial", "strong", 1000.0),
    ("partial", "medium", 400.0),
    ("partial", "weak", 150.0),
)
EVAL_CAMERAS = (
    CameraSpec(make="Simcam", model="E1", serial="EVAL0001", height=240, width=320, cfa="RGGB"),
    CameraSpec(make="Simcam", model="E2", serial="EVAL0002", height=256, width=384, cfa="GBRG", black_level=256),
    CameraSpec(make="Othercam", model="X9", serial="EVAL0003", height=300, width=400, cfa="BGGR"),
)


@dataclass(frozen=True)
class Planted:
    defect: Defect
    grade: str

    @property
    def expected(self) -> str:
        return EXPECTED[self.defect.kind]


def plant_graded(camera: CameraSpec, shots: int, seed: int) -> tuple[Planted, ...]:
    """The evaluation's defects for one camera, at random well-separated places."""
    rng = np.random.default_rng([seed, 4])
    taken: list[tuple[int, int]] = []

    def place(margin: int = 10, spacing: int = 12) -> tuple[int, int]:
        for _ in range(10_000):
            row = int(rng.integers(margin, camera.height - margin))
            col = int(rng.integers(margin, camera.width - margin - 1))
            if all(max(abs(row - r), abs(col - c)) >= spacing for r, c in taken):
                taken.append((row, col))
                return row, col
        raise ValueError("the evaluation's defects do not fit this sensor")

    planted = [Planted(Defect(*place(), kind, strength), grade) for kind, grade, strength in _LAYOUT]
    # Defects that appear partway through the archive, as hot pixels do when a sensor ages.
    planted.append(Planted(Defect(*place(), "hot", 300.0, onset=shots // 2), "strong"))
    planted.append(Planted(Defect(*place(), "hot", 120.0, onset=shots // 3), "medium"))
    # Two hot photosites side by side (different colour filters): two defects, not one.
    row, col = place()
    planted.append(Planted(Defect(row, col, "hot", 150.0), "medium"))
    planted.append(Planted(Defect(row, col + 1, "hot", 150.0), "medium"))
    # A bad column, away from the point defects' columns.
    used = {c for _, c in taken}
    col = next(c for c in rng.permutation(np.arange(16, camera.width - 16)) if all(abs(c - u) > 3 for u in used))
    planted.append(Planted(Defect(0, int(col), "column", 40.0), "medium"))
    return tuple(planted)


# How an archive's shots are taken: the share of night exposures (1-30 s) and which shots are lens-cap dark
# frames. ``mixed`` is the evaluation's default; the others are archives of one habit.
MIXES: dict[str, tuple[float, str]] = {
    "mixed": (0.2, "last 4"),
    "daylight": (0.03, "none"),  # a holiday photographer: nearly everything hand-held in daylight
    "night": (0.8, "last 4"),  # night skies and long exposures
    "darks": (0.2, "sessions"),  # an astrophotographer's library: sessions of 15 darks after 10 lights
}


def _dark_frames(rule: str, shots: int, bursts: Sequence[tuple[int, int]]) -> list[int]:
    """The dark frames' shot numbers, none inside a burst (a session's darks come after its lights)."""
    inside = {i for first, count in bursts for i in range(first, first + count)}
    if rule == "last 4":
        chosen = list(range(shots - 4, shots))
    elif rule == "sessions":
        chosen = [i for i in range(shots) if i % 25 >= 10]
    else:
        chosen = []
    return [i for i in chosen if i not in inside]


def _first_night_shot(shots: int, seed: int, after: int, night_share: float) -> int:
    for index in range(after, shots):
        if shot_settings(seed, index, night_share)[0] >= 1.0:
            return index
    return after


def write_eval_archive(
    directory: Path,
    camera: CameraSpec,
    *,
    shots: int = 150,
    seed: int = 0,
    formats: Sequence[str] = ("dng", "jpg"),
    mix: str = "mixed",
    scenes: Sequence[np.ndarray] = (),
    developer: str = "sim",
    defects: bool = True,
) -> tuple[Archive, tuple[Planted, ...]]:
    """Write one camera's evaluation archive; return it with its graded defects (none without
    ``defects``: a healthy camera). ``mix``, ``scenes`` and ``developer``: see :data:`MIXES` and
    :func:`hpstore.testing.simulator.write_archive`."""
    night_share, darks = MIXES[mix]
    planted = plant_graded(camera, shots, seed) if defects else ()
    night = _first_night_shot(shots, seed, shots // 5, night_share)
    day_burst = (shots // 10, max(2, shots // 15))
    bursts = [day_burst, (night, max(2, shots // 12))] if night > day_burst[0] + day_burst[1] else [day_burst]
    archive = write_archive(
        directory,
        camera,
        [p.defect for p in planted],
        shots,
        formats=formats,
        seed=seed,
        start=datetime.datetime(2021, 3, 1, 20, 0),
        interval=datetime.timedelta(hours=13),
        bursts=bursts,
        dark_frames=_dark_frames(darks, shots, bursts),
        stars=True,
        scenes=scenes,
        night_share=night_share,
        developer=developer,
    )
    return archive, planted


@dataclass
class Evaluation:
    """How one ranked list of one source compares with the planted defects."""

    source: str
    planted: tuple[Planted, ...]
    matched: dict[int, dict[str, Any]] = field(default_factory=dict)  # planted index -> row
    false: list[dict[str, Any]] = field(default_factory=list)

    def found(self, grades: Iterable[str] = GRADES) -> list[Planted]:
        wanted = set(grades)
        return [p for i, p in enumerate(self.planted) if i in self.matched and p.grade in wanted]

    def wanted(self, grades: Iterable[str] = GRADES) -> list[Planted]:
        chosen = set(grades)
        return [p for p in self.planted if p.grade in chosen]

    @property
    def class_right(self) -> int:
        return sum(self.matched[i]["kind"] == p.expected for i, p in enumerate(self.planted) if i in self.matched)

    def per_class(self) -> dict[str, dict[str, float | int]]:
        """Per defect class: planted, found, recall; reported, right, precision (of the reported class)."""
        out: dict[str, dict[str, float | int]] = {}
        classes = sorted({p.expected for p in self.planted} | {r["kind"] for r in self.rows})
        for kind in classes:
            planted = [i for i, p in enumerate(self.planted) if p.expected == kind]
            found = [i for i in planted if i in self.matched]
            reported = [r for r in self.rows if r["kind"] == kind]
            right = [i for i, r in self.matched.items() if r["kind"] == kind and self.planted[i].expected == kind]
            out[kind] = {
                "planted": len(planted),
                "found": len(found),
                "recall": len(found) / len(planted) if planted else float("nan"),
                "reported": len(reported),
                "right": len(right),
                "precision": len(right) / len(reported) if reported else float("nan"),
            }
        return out

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [*self.matched.values(), *self.false]

    def summary(self) -> dict[str, Any]:
        sm = ("strong", "medium")
        return {
            "source": self.source,
            "listed": len(self.rows),
            "strong_medium_found": len(self.found(sm)),
            "strong_medium_planted": len(self.wanted(sm)),
            "weak_found": len(self.found(("weak",))),
            "not_defects": len(self.false),
            "class_right": self.class_right,
            "found": len(self.matched),
        }


def evaluate(planted: Sequence[Planted], rows: Sequence[dict[str, Any]], source: str) -> Evaluation:
    """Match ``rows`` (query output of one camera and source, best first) with the planted defects."""
    radius = 0 if source == "raw" else RGB_RADIUS
    result = Evaluation(source, tuple(planted))
    for row in rows:
        best = None
        for i, p in enumerate(planted):
            if i in result.matched:
                continue
            d = p.defect
            if d.kind in ("column", "row"):
                axis = "col" if d.kind == "column" else "row"
                at = d.col if d.kind == "column" else d.row
                ok = row.get(axis) is not None and abs(row[axis] - at) <= radius
                other = row.get("row" if axis == "col" else "col")
                ok = ok and other is None
                dist = 0 if ok else None
            elif row.get("row") is None or row.get("col") is None:
                dist = None
            else:
                reach = max(abs(row["row"] - d.row), abs(row["col"] - d.col))
                dist = reach if reach <= radius else None
            if dist is not None and (best is None or dist < best[0]):
                best = (dist, i)
        if best is None:
            result.false.append(dict(row))
        else:
            result.matched[best[1]] = dict(row)
    return result


SHOWS_SIGMAS = 3.0  # a photo shows a defect when its excess exceeds this many times the photosite's noise


def showing(archive: Archive, planted: Sequence[Planted]) -> dict[int, list[bool]]:
    """For each planted point defect (by index), per shot in capture order: whether that photo shows it, its
    excess over what the photosite would read without it above ``SHOWS_SIGMAS`` times its noise there. The
    photosite's own level is read from the shot's DNG (the median of its 8 same-colour neighbours): a dead
    pixel shows only against a bright enough scene, a hot one only in a long enough exposure."""
    import rawpy

    cam = archive.camera
    points = {i: p.defect for i, p in enumerate(planted) if p.defect.kind not in ("column", "row")}
    out: dict[int, list[bool]] = {i: [] for i in points}
    for shot in archive.shots:
        with rawpy.imread(str(shot.paths["dng"])) as raw:
            mosaic = raw.raw_image_visible.astype(np.float64)
        gain, read = noise_model(cam, shot.iso)
        for i, d in points.items():
            if shot.index < d.onset:
                out[i].append(False)
                continue
            rows = np.clip(np.array([-2, 0, 2]) + d.row, 0, cam.height - 1)
            cols = np.clip(np.array([-2, 0, 2]) + d.col, 0, cam.width - 1)
            ring = mosaic[np.ix_(rows, cols)].reshape(-1)
            level = max(float(np.median(np.delete(ring, 4))) - cam.black_level, 0.0)
            if d.kind in ("hot", "warm"):  # up to the white level
                excess = min(
                    d.strength * shot.exposure_time * shot.iso / 100.0, cam.white_level - cam.black_level - level
                )
            elif d.kind == "partial":
                excess = d.strength
            elif d.kind == "stuck":
                excess = cam.white_level - cam.black_level - level
            else:  # dead
                excess = level
            noise = math.sqrt((level + max(excess, 0.0)) * gain + read**2)
            out[i].append(excess > SHOWS_SIGMAS * noise)
    return out
