"""Exposure classes: hot pixels show in long exposures and vanish in daylight, so each camera's statistics are
kept apart by how much dark signal a frame collects.

The dark signal of a photosite grows with exposure time and with the analogue gain, so a frame's *dark
weight* is ``exposure time x ISO / 100`` (seconds at ISO 100). Frames of at least ``LONG_WEIGHT`` are
``long`` (night shots, long exposures, high ISO, lens-cap dark frames); the others, and frames whose EXIF
gives no exposure time, are ``short``. Stores made before the split hold ``all``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from hpstore.stats import Pairs

LONG_WEIGHT = 0.5  # seconds at ISO 100: 1/2 s at ISO 100, 1/30 s at ISO 1600
SHORT, LONG, ALL = "short", "long", "all"
CLASSES = (SHORT, LONG, ALL)


def dark_weight(exposure_time: float | None, iso: float | None) -> float | None:
    """Seconds at ISO 100 (ISO 100 assumed when unknown); None without an exposure time."""
    if not exposure_time or exposure_time <= 0:
        return None
    return exposure_time * (iso or 100.0) / 100.0


def exposure_class(exposure_time: float | None, iso: float | None) -> str:
    weight = dark_weight(exposure_time, iso)
    return LONG if weight is not None and weight >= LONG_WEIGHT else SHORT


@dataclass(frozen=True)
class ClassMean:
    """The per-sample mean of one exposure class, with its frame count and mean dark weight."""

    name: str
    n: int
    weights: np.ndarray  # dark weight of each frame whose exposure is known
    mean: np.ndarray
    pairs: Pairs | None = None
    gains: np.ndarray | None = None  # ISO / 100 of the same frames as ``weights``

    @property
    def gain(self) -> float:
        return float(np.mean(self.gains)) if self.gains is not None and self.gains.size else 1.0

    @property
    def weight(self) -> float | None:
        return float(np.mean(self.weights)) if self.weights.size else None
