"""Sharper first sightings: found defects looked for again, at their own photosites, in earlier photos.

The per-photo scan (``hpstore.ingest.scan``) keeps only values that stand out of a whole frame: 4 times its
noise beyond the range of their four neighbours, the strongest 512, and in a frame of fine texture the bar
rises further. A hot pixel 3 to 5 times its noise above its neighbours in the first dim photos is not among
them, so it would be dated from the first long night exposure. Once photos have shown a defect its place is
known, and a photo shows it when the value there lies at least ``SIGMAS`` times the local noise from what
its four same-colour partners predict, on the defect's side and outside their range (see :func:`_excess_at`).

After an ingest, :func:`refine` takes, in each family the ingest touched, the photosites that stood out on
one side in at least ``RECURRING`` photos (the most often seen ``TOP``; from the per-photo evidence alone,
without ranking the dense state, which would cost an ingest more than its decoding) and reads again the
photos before each one's first sighting that could show it (content hash checked), latest first, until
``MISSES`` such photos in a row do not show it, the start of the archive, or the budget. What each shows
is added to its per-photo evidence, zero where it does not, so that no photo is read twice for one defect.
The query then dates the defect as always, from all the evidence: whatever the ingest order, it lands on the
first photo that shows it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hpstore.detect.cfa import pair_distance
from hpstore.errors import WindowError
from hpstore.ingest.evidence import Standouts
from hpstore.store.catalog import Group, Photo
from hpstore.store.storage import Storage
from hpstore.timeaxis import onset
from hpstore.timeaxis.exposure import dark_weight
from hpstore.timeaxis.families import read_frame
from hpstore.timeaxis.window import families

SIGMAS = 3.0  # how far from its partners' median, in the photo's noise, a known defect shows
MISSES = 3  # photos in a row that should show a defect clearly but do not: it was not there yet
PER_DEFECT = 40  # photos looked at again for one defect, at most, per ingest
BUDGET = 400  # photos read again per ingest, at most (or as many as the ingest read, if more)
TOP = 20  # defects per family looked at, at most: as many as a default query lists
RECURRING = 3  # photos a photosite must have stood out in to be looked for in earlier ones


@dataclass
class Refined:
    photos: int = 0  # photos read again
    unreadable: int = 0  # photos that could not be read again (moved, changed, gone)


def refine(
    store: Storage, group_ids: Sequence[int], *, budget: int = BUDGET, on_read: Callable[[], None] | None = None
) -> Refined:
    """Look for the recurring photosites of the families holding ``group_ids`` again in their earlier photos;
    ``on_read`` is called after each photo read again."""
    done = Refined()
    touched = set(group_ids)
    camera_ids = {g.camera_id for g in store.catalog.groups() if g.id in touched}
    for family in families(store.catalog.groups(camera_ids)):
        if done.photos >= budget or not touched & {g.id for g in family}:
            continue
        _refine_family(store, family, budget, done, on_read or (lambda: None))
    return done


def _refine_family(
    store: Storage, family: list[Group], budget: int, done: Refined, on_read: Callable[[], None]
) -> None:
    group = family[0]
    if sum(g.n for g in family) < 2:
        return
    photos = store.catalog.photos([g.id for g in family], standouts=True)
    shape = (group.height, group.width, group.channels)
    d = pair_distance(group.source, group.pattern)
    evidence = {p.id: Standouts.unpack(p.standouts) for p in photos if p.standouts}
    dated = _recurring(photos, evidence, shape, group.source)
    reader = _Reader([tgt for tgt, _ in dated], shape, d, budget - done.photos, on_read)
    changed: dict[int, Standouts] = {}
    for i, (tgt, first) in enumerate(dated):
        before = [p for p in photos if p.capture_time is not None and p.capture_time < first]
        _walk(before[::-1], tgt, _rate(photos, evidence, tgt), (evidence, changed), reader.at(i))
    done.photos += reader.photos
    done.unreadable += reader.unreadable
    store.catalog.set_standouts({pid: s.pack() for pid, s in changed.items()})


class _Reader:
    """Photos read again, each at most once: one read gives the evidence at every target of the family."""

    def __init__(
        self,
        targets: list[onset.Target],
        shape: tuple[int, int, int],
        d: int,
        budget: int,
        on_read: Callable[[], None],
    ) -> None:
        self.targets, self.shape, self.d, self.budget, self.on_read = targets, shape, d, budget, on_read
        self.seen: dict[int, list[tuple[np.ndarray, float]] | None] = {}  # None: unreadable
        self.photos = 0
        self.unreadable = 0

    def at(self, i: int) -> Callable[[Photo], tuple[np.ndarray, float] | None]:
        """What a photo shows at target ``i``: (excess, local noise), or None (unreadable, or over budget)."""

        def look(photo: Photo) -> tuple[np.ndarray, float] | None:
            if photo.id not in self.seen:
                if self.photos >= self.budget:
                    return None
                try:
                    pixels = read_frame(photo, self.shape)
                except WindowError:
                    self.unreadable += 1
                    self.seen[photo.id] = None
                    return None
                self.photos += 1
                self.on_read()
                self.seen[photo.id] = [_excess_at(pixels, t, self.d) for t in self.targets]
            found = self.seen[photo.id]
            return None if found is None else found[i]

        return look


def _recurring(
    photos: Sequence[Photo], evidence: dict[int, Standouts], shape: tuple[int, int, int], source: str
) -> list[tuple[onset.Target, dt.datetime]]:
    """The ``TOP`` photosites (pixels on developed images) that stood out on one side in the most photos,
    at least ``RECURRING`` of them, each as a target with its first sighting: the defects the store has
    seen, found from the per-photo evidence alone, which costs no ranking of the dense state.

    A dark-current defect is one whose sightings come from photos of far more dark weight than the
    family's typical photo: only such photos can show it, so only they are read again."""
    _, width, channels = shape
    count: dict[int, int] = defaultdict(int)
    side: dict[int, int] = defaultdict(int)
    weights: dict[int, list[float]] = defaultdict(list)
    first: dict[int, dt.datetime] = {}
    for p in photos:
        s = evidence.get(p.id)
        if s is None or p.capture_time is None:
            continue
        weight = dark_weight(p.exposure_time, p.iso) or 0.0
        shown = s.index[s.excess != 0] // channels  # pixels: a JPEG defect's peak moves between channels
        signs = np.sign(s.excess[s.excess != 0])
        for pixel, sign in dict(zip(shown.tolist(), signs.tolist(), strict=True)).items():
            count[pixel] += 1
            side[pixel] += int(sign)
            weights[pixel].append(weight)
            if pixel not in first or p.capture_time < first[pixel]:
                first[pixel] = p.capture_time
    typical = float(np.median([dark_weight(p.exposure_time, p.iso) or 0.0 for p in photos])) if photos else 0.0
    steady = [k for k, n in count.items() if n >= RECURRING and abs(side[k]) >= 0.8 * n]
    out = []
    for pixel in sorted(steady, key=lambda k: -count[k])[:TOP]:
        row, col = divmod(pixel, width)
        dark = side[pixel] > 0 and float(np.median(weights[pixel])) >= 2 * typical > 0
        tgt = onset.target(row, col, shape, source=source, sign=1 if side[pixel] > 0 else -1, dark=dark)
        out.append((tgt, first[pixel]))
    return out


def _rate(photos: Sequence[Photo], evidence: dict[int, Standouts], tgt: onset.Target) -> float | None:
    """A dark-current defect's excess per unit of dark weight, from the photos where it stood out."""
    if not tgt.dark:
        return None
    keys = set(tgt.index.tolist())
    ratios = []
    for p in photos:
        weight = dark_weight(p.exposure_time, p.iso)
        s = evidence.get(p.id)
        if not weight or s is None:
            continue
        hit = [abs(float(e)) for i, e in zip(s.index.tolist(), s.excess, strict=True) if i in keys and e != 0]
        if hit:
            ratios.append(max(hit) / weight)
    return float(np.median(ratios)) if ratios else None


def _walk(
    photos: Sequence[Photo],
    tgt: onset.Target,
    rate: float | None,
    stores: tuple[dict[int, Standouts], dict[int, Standouts]],
    look: Callable[[Photo], tuple[np.ndarray, float] | None],
) -> None:
    """Photos latest first: look at those that could show the target and hold no evidence of it yet, at
    most ``PER_DEFECT``, and add what each shows to its evidence (``stores``: as recorded, and changed
    here)."""
    evidence, changed = stores
    looked = misses = 0
    keys = set(tgt.index.tolist())
    for p in photos:
        if looked >= PER_DEFECT or misses >= MISSES:
            break
        s = changed.get(p.id) or evidence.get(p.id)
        if s is None:
            continue  # no per-photo evidence (a store from before it): nothing to add to
        # The photo's recorded noise is that of its flat parts; the photosite's own is known once read.
        expected = (rate or 0.0) * (dark_weight(p.exposure_time, p.iso) or 0.0) if tgt.dark else np.inf
        if expected < s.noise:
            continue  # too short an exposure to show this dark current
        recorded = [float(e) for i, e in zip(s.index.tolist(), s.excess, strict=True) if i in keys]
        telling = True  # a photo that should have shown it clearly: a miss there counts
        if recorded:
            shown = any(e != 0 for e in recorded)
        else:
            found = look(p)
            if found is None:
                continue
            looked += 1
            excess, noise = found
            shown = bool(np.any(excess != 0))
            telling = expected >= 2 * SIGMAS * noise
            changed[p.id] = Standouts(
                np.concatenate([s.index, tgt.index]),
                np.concatenate([s.excess, excess]).astype(np.float32),
                s.noise,
                s.threshold,
            )
        misses = 0 if shown else misses + telling


def _excess_at(frame: np.ndarray, tgt: onset.Target, d: int) -> tuple[np.ndarray, float]:
    """Each target sample's excess over what its four partners ``d`` away predict, where it lies ``SIGMAS``
    times the local noise away, on the target's side and outside the partners' range (0 elsewhere); and
    that local noise.

    The prediction follows the scene: the mean of the opposite pair (up and down, or left and right) that
    differ least, so that an edge or a slope across the photosite is not taken for an excess. The local noise
    is how well that prediction does on the 16 same-colour samples around the target (robust spread of their
    own excesses): texture, photon noise and all."""
    height, width, channels = frame.shape
    rows, rest = np.divmod(tgt.index, width * channels)
    cols, chans = np.divmod(rest, channels)
    values = frame.astype(np.float64)

    def at(dy: int, dx: int) -> np.ndarray:
        return values[np.clip(rows + dy, 0, height - 1), np.clip(cols + dx, 0, width - 1), chans]

    def predicted(dy: int, dx: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(value, prediction, partners) of the samples ``(dy, dx)`` from the targets."""
        up, down, left, right = at(dy - d, dx), at(dy + d, dx), at(dy, dx - d), at(dy, dx + d)
        across = np.abs(up - down) <= np.abs(left - right)
        guess = np.where(across, 0.5 * (up + down), 0.5 * (left + right))
        return at(dy, dx), guess, np.stack([up, down, left, right])

    ring = [
        (dy, dx) for dy in (-2 * d, -d, 0, d, 2 * d) for dx in (-2 * d, -d, 0, d, 2 * d) if abs(dy) + abs(dx) > d
    ]
    residuals = np.stack([v - g for v, g, _ in (predicted(dy, dx) for dy, dx in ring)])
    noise = max(float(1.4826 * np.median(np.abs(residuals))), 0.5)
    value, guess, around = predicted(0, 0)
    excess = value - guess
    # Outside its partners' range too, as the per-photo scan asks.
    apart = (value > around.max(axis=0)) | (value < around.min(axis=0))
    side = np.sign(excess) == tgt.sign if tgt.sign else np.ones(len(excess), bool)
    return np.where(side & apart & (np.abs(excess) >= SIGMAS * noise), excess, 0.0), noise
