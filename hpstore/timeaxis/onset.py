"""When a defect was first and last seen, from the photos' sparse evidence (``hpstore.ingest.scan``).

A defect stands out in the photos that can show it: a stuck, dead or partially stuck pixel in most of them,
a hot pixel in long exposures and dark scenes only. Before it appeared it stands out at most by chance (a
star or a glint on that very photosite). So, over the photos that can show it, in capture order, the
evidence is a sequence of 0/1 whose rate jumps at the onset: the onset is the split that best explains the
sequence as two rates (a Bernoulli change point, taken only when the likelihood ratio says the jump is
real), and ``first_seen`` is the first photo at or after it in which the pixel stood out; ``last_seen`` the
last photo in which it did. Ingest order does not matter: the photos are ordered by capture time here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from hpstore.ingest.evidence import Standouts
from hpstore.store.catalog import Photo
from hpstore.timeaxis.exposure import dark_weight

MIN_HITS = 2  # photos a pixel must stand out in before it has a first_seen
MIN_LLR = 6.0  # log-likelihood gain of a change point over one rate before the split is believed
MAX_TRANSIENT = 2  # photos that can make a transient (a star, a glint) ...
TRANSIENT_SHARE = 0.4  # ... when they hold this share of its excess over all photos
PERSISTENT_PHOTOS = 5  # photos, in at least ...
PERSISTENT_RUNS = 3  # ... this many bursts, in which a persistent defect stood out, ...
CHANCE_P = 1e-3  # ... where other samples' standouts would reach that many photos less often than this
MIN_BURST = 3  # photos of a burst, and photos after it, before the burst test speaks
BURST_SHARE = 0.8  # share of the evidence in one burst that makes it a static scene when later photos miss it
MAX_BEFORE = 0.2  # share of the photos before an onset in which a pixel may stand out by chance
MIN_ABLE = 6  # photos after its first sighting that could show a dark-current defect, ...
MIN_SHOWN = 0.5  # ... of which it must show in at least half, or it is light in the scenes
SLACK = 3.0  # log-likelihood within which an earlier split is as good
ABLE_MARGIN = 2.0  # a photo can show a defect when its typical excess is this many times the photo's bar


@dataclass(frozen=True)
class Target:
    """The samples (flat indices into a frame) that count as one defect's evidence, and its sign: +1 for
    a pixel brighter than its neighbours, -1 for a darker one, 0 for either."""

    index: np.ndarray
    sign: int
    dark: bool  # a dark-current defect: only photos with enough dark weight can show it
    total: float = 0.0  # its excess over its neighbours summed over all photos (DN), when known
    samples: int = 0  # samples in a frame (0: unknown), for the chance that noise and scenes hit it


@dataclass(frozen=True)
class Seen:
    first: dt.datetime | None
    last: dt.datetime | None
    photos: int  # photos in which it stood out
    onset_index: int | None  # position of ``first`` among the photos in capture order
    appeared: bool = False  # the evidence switches on partway (a change point), rather than being there all along
    scene: bool = False  # scene light, not a defect: one burst of a static scene, or one or two photos
    runs: int = 0  # bursts (runs of consecutive photos with one exposure and ISO) in which it stood out
    chance: float = 0.0  # photos in which it would stand out by chance alone (other samples' standouts)

    @property
    def persistent(self) -> bool:
        """Standing out in photos of many different scenes, far more often than chance: no scene light
        does that."""
        return (
            not self.scene
            and self.photos >= PERSISTENT_PHOTOS
            and self.runs >= PERSISTENT_RUNS
            and poisson_tail(self.photos, self.chance) <= CHANCE_P
        )


def target(
    row: int, col: int, shape: tuple[int, int, int], *, source: str, sign: int, dark: bool, total: float = 0.0
) -> Target:
    """The samples of a defect at (row, col): the photosite on RAW; on developed images every channel of
    the pixel and of its 8 neighbours, since a JPEG defect's peak may sit one pixel off."""
    height, width, channels = shape
    reach = 1 if source == "rgb" else 0
    rr = np.arange(max(0, row - reach), min(height, row + reach + 1))
    cc = np.arange(max(0, col - reach), min(width, col + reach + 1))
    grid = (rr[:, None, None] * width + cc[None, :, None]) * channels + np.arange(channels)[None, None, :]
    return Target(np.sort(grid.reshape(-1)), sign, dark, total, height * width * channels)


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X Poisson with ``mean``."""
    if mean <= 0:
        return 0.0 if k > 0 else 1.0
    term, below = math.exp(-mean), 0.0
    for i in range(k):
        below += term
        term *= mean / (i + 1)
    return max(0.0, 1.0 - below)


@dataclass(frozen=True)
class Hits:
    """``excess[photo, target]``: how far (DN) each target stood out in each photo, 0 where it did not;
    ``threshold[photo]``: how far a value had to stand out in that photo (inf without evidence);
    ``kept[photo]``: how many values the photo kept."""

    excess: np.ndarray
    threshold: np.ndarray
    kept: np.ndarray | None = None


def hits(photos: Sequence[Photo], targets: Sequence[Target]) -> Hits:
    """Where each target stood out among ``photos``."""
    out = np.zeros((len(photos), len(targets)), np.float32)
    threshold = np.full(len(photos), np.inf)
    kept = np.zeros(len(photos))
    if not targets:
        return Hits(out, threshold, kept)
    keys = np.concatenate([t.index for t in targets])
    owner = np.concatenate([np.full(len(t.index), i) for i, t in enumerate(targets)])
    order = np.argsort(keys, kind="stable")
    keys, owner = keys[order], owner[order]
    signs = np.array([t.sign for t in targets])
    for p, photo in enumerate(photos):
        if not photo.standouts:
            continue
        found = Standouts.unpack(photo.standouts)
        threshold[p] = found.threshold
        kept[p] = len(found.index)
        at = np.searchsorted(keys, found.index)
        inside = at < len(keys)
        at, index, excess = at[inside], found.index[inside], found.excess[inside]
        match = keys[at] == index
        # One sample may belong to several targets (neighbouring JPEG defects): walk the run of equal keys.
        for a, e in zip(at[match], excess[match], strict=True):
            k = a  # searchsorted gives the first of the equal keys
            while k < len(keys) and keys[k] == keys[a]:
                t = owner[k]
                if (signs[t] == 0 or np.sign(e) == signs[t]) and abs(e) > abs(out[p, t]):
                    out[p, t] = e
                k += 1
    return Hits(out, threshold, kept)


def _bernoulli(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Log-likelihood of k successes in n trials at the MLE rate (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / np.maximum(n, 1), 0.0)
        a = np.where(k > 0, k * np.log(np.where(p > 0, p, 1.0)), 0.0)
        b = np.where(n - k > 0, (n - k) * np.log(np.where(p < 1, 1 - p, 1.0)), 0.0)
    return np.asarray(a + b)


def change_point(seq: np.ndarray) -> int:
    """Index where a 0/1 sequence's rate jumps up (0 when one rate explains it as well)."""
    n = len(seq)
    if n < 2:
        return 0
    cum = np.concatenate([[0], np.cumsum(seq)])
    t = np.arange(n + 1)
    k_total = cum[-1]
    before = _bernoulli(cum, t)
    after = _bernoulli(k_total - cum, n - t)
    rate_before = cum / np.maximum(t, 1)
    rate_up = (k_total - cum) / np.maximum(n - t, 1) > rate_before
    # Before an onset the pixel stands out by chance only (a star, a glint): a pixel that stood out in a
    # good share of the photos before a split was there already, shown less often (scenes dark around a
    # dead pixel, a static burst), not absent.
    score = np.where(rate_up & (rate_before <= MAX_BEFORE), before + after, -np.inf)
    best = int(np.argmax(score))
    gain = score[best] - _bernoulli(np.array([k_total]), np.array([n]))[0]
    if gain < MIN_LLR:
        return 0
    # The earliest split nearly as likely: one photo that missed just after the onset (texture next to the
    # pixel, a noisy frame) must not push the onset past the photos that did show it.
    return int(np.flatnonzero(score >= score[best] - SLACK)[0])


def _able(
    photos: Sequence[Photo], found: Hits, excess: np.ndarray, stood: np.ndarray, dated: np.ndarray, tgt: Target
) -> np.ndarray:
    """Which dated photos could have shown the target: those where its typical excess clears the photo's
    bar well (scene texture next to it can hide a marginal one). Dark current scales with the dark weight
    (0 when EXIF gives no exposure); an offset does not."""
    if tgt.dark:
        weights = np.array([dark_weight(p.exposure_time, p.iso) or 0.0 for p in photos])
        usable = stood & (weights > 0)
        rate = float(np.median(excess[usable] / weights[usable])) if usable.any() else 0.0
        expected = rate * weights
    else:
        expected = np.full(len(photos), float(np.median(excess[stood])))
    return (dated & (expected >= ABLE_MARGIN * found.threshold)) | stood


def seen(photos: Sequence[Photo], found: Hits, column: int, tgt: Target) -> Seen:
    """First and last sight of one target, the ``column`` of :func:`hits`."""
    excess = np.abs(found.excess[:, column].astype(np.float64))
    dated = np.array([p.capture_time is not None for p in photos], bool)
    stood = (excess > 0) & dated
    count = int(stood.sum())
    if count == 0:
        return Seen(None, None, 0, None)
    able = _able(photos, found, excess, stood, dated, tgt)
    if count < MIN_HITS:
        return Seen(None, None, count, None, scene=_transient(stood, excess, tgt))
    positions = np.flatnonzero(able)
    split = change_point(stood[positions].astype(np.int64))
    later = positions[split:][stood[positions[split:]]]
    first = int(later[0]) if later.size else int(np.flatnonzero(stood)[0])
    last = int(np.flatnonzero(stood)[-1])
    run = _runs(photos)
    scene = _one_burst(run, stood, able) or _transient(stood, excess, tgt) or _absent(stood, able, first, tgt)
    runs = len(set(run[stood].tolist()))
    chance = 0.0
    if found.kept is not None and tgt.samples:
        chance = float(np.minimum(found.kept[dated] * len(tgt.index) / tgt.samples, 1.0).sum())
    when = photos[first].capture_time, photos[last].capture_time
    return Seen(*when, count, first, split > 0, scene, runs, chance)


def _runs(photos: Sequence[Photo]) -> np.ndarray:
    """Run number of each photo: consecutive photos with one exposure time and ISO share a run."""
    settings = [(p.exposure_time, p.iso) for p in photos]
    return np.cumsum([0] + [int(a != b) for a, b in pairwise(settings)])


def _transient(stood: np.ndarray, excess: np.ndarray, tgt: Target) -> bool:
    """Whether one or two photos make the whole defect: a star or a glint that fell on the pixel once or
    twice lifts its mean over many photos all the same. A defect too faint to stand out in single photos
    spreads its excess over all of them; one that stood out in only one or two photos, which hold most of
    its excess, is not told apart from scene light until more photos show it."""
    if not 0 < stood.sum() <= MAX_TRANSIENT or tgt.total <= 0:
        return False
    return bool(excess[stood].sum() >= TRANSIENT_SHARE * tgt.total)


def _absent(stood: np.ndarray, able: np.ndarray, first: int, tgt: Target) -> bool:
    """Whether a dark-current defect was missing from most of the photos that should have shown it after
    its first sighting: dark current shows in every photo exposed long enough, while a light in a scene
    (one composition shot again from a tripod, a lamp) shows only in the photos of that scene."""
    if not tgt.dark:
        return False  # an offset shows only against suitable scenes (a dead pixel needs light around it)
    after = able & (np.arange(len(able)) >= first)
    return bool(after.sum() >= MIN_ABLE and stood[after].mean() < MIN_SHOWN)


def _one_burst(run: np.ndarray, stood: np.ndarray, able: np.ndarray) -> bool:
    """Whether the evidence is a static scene rather than a defect: nearly all of it from one burst (a run of
    consecutive photos with the same exposure and ISO: a tripod or a tracking mount, where a star or a
    glint stays on the same pixel), while the photos after the burst that could show a defect do not.
    ``run``: each photo's run number (:func:`_runs`)."""
    counts = np.bincount(run[stood], minlength=int(run[-1]) + 1) if stood.any() else np.zeros(1, int)
    burst = int(np.argmax(counts))
    members = run == burst
    if members.sum() < MIN_BURST or counts[burst] < BURST_SHARE * stood.sum():
        return False
    after = able & ~members & (np.arange(len(run)) > np.flatnonzero(members)[-1])
    return bool(after.sum() >= MIN_BURST and stood[after].mean() < 1 - BURST_SHARE)
