"""Defect classes: what a suspicious pixel is, how sure we are, and a sentence saying why.

A pixel's class comes from how its mean and spread across photos compare with its same-colour
neighbourhood, and, when the store keeps short and long exposures apart (``hpstore.timeaxis.exposure``), from how
its excess over the neighbours grows with the frames' gain (ISO / 100) and dark weight (exposure time x
ISO / 100), as the sensor's model says (pixel = gain x (photo signal x t + dark current x t + b)):

    excess = offset x gain + rate x dark weight

fitted through the short and the long exposure class. Dark current (a hot or warm pixel) is all ``rate``:
it vanishes in daylight and grows in long exposures. A partially stuck pixel is all ``offset``: it grows
with ISO whatever the exposure time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from hpstore.types import Kind

MIN_SCORE = 6.0  # default threshold of a likely defect
# Dark current below this share of the sensor's range per second at ISO 100 is "warm", above it "hot"
# (0.15 %: 24 DN/s on a 14-bit sensor with black level 512). Developed images show an isolated photosite
# attenuated (demosaicing spreads it, JPEG's chroma subsampling halves it): about half the rate there.
WARM_RATE = {"raw": 0.0015, "rgb": 0.0008}
# A spread below this share of the neighbours' is frozen (stuck or dead); a developed image mixes the
# neighbours' variation into a frozen photosite's pixel.
FROZEN = {"raw": 0.3, "rgb": 0.5}
KINDS = tuple(k.value for k in Kind)  # hot, warm, stuck, dead, partial, dim, noisy, bad_column, bad_row


@dataclass(frozen=True)
class Levels:
    """Sensor levels of a group: RAW black/white in DN; developed images 0..2**bits-1."""

    black: float
    white: float

    @property
    def span(self) -> float:
        return max(self.white - self.black, 1.0)


@dataclass(frozen=True)
class Response:
    """How a pixel's excess over its neighbours depends on gain and dark weight, fitted through two exposure
    classes: ``rate`` per second at ISO 100 (dark current R_dark) and ``offset`` at ISO 100 (a partially
    stuck pixel's b), in linear units of the stored values."""

    rate: float
    offset: float
    long_weight: float  # mean dark weight of the long class
    n_long: int
    long_gain: float = 1.0  # mean ISO / 100 of the long class

    @property
    def dark_share(self) -> float:
        """Share of the excess in long exposures that dark current explains (1: all of it)."""
        dark = self.rate * self.long_weight
        total = abs(dark) + abs(self.offset * self.long_gain)
        return dark / total if total > 0 else 0.0


@dataclass(frozen=True)
class Candidate:
    """One reported defect. A bad line has ``row`` (kind ``bad_row``) or ``col`` (``bad_column``) None."""

    row: int | None
    col: int | None
    channel: str
    kind: str
    score: float
    n: int
    mean: float
    std: float
    z_mean: float
    z_std: float
    neighbour_mean: float
    neighbour_std: float
    confidence: float = 0.0
    z_long: float | None = None
    n_long: int | None = None
    dark_rate: float | None = None
    offset: float | None = None
    extended: bool = False  # its neighbours share its excess; kept because photos show it as a defect
    # Its photos do not set it apart consistently (a defect that appeared late, or shows in few photos):
    # kept only because photos of many scenes show it standing out (per-photo evidence).
    unconfirmed: bool = False
    # The sign test (``rank.consistency``): how consistently, photo after photo, it lies on its side of
    # its neighbours; about sqrt(photos) for a defect every photo shows. None for stores without pairs.
    consistency: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def classify(
    mean: float,
    std: float,
    z_mean: float,
    z_std: float,
    nb_mean: float,
    nb_std: float,
    *,
    levels: Levels,
    source: str,
    response: Response | None = None,
) -> str:
    """The defect class of one pixel from its statistics, its neighbourhood's and its exposure response.

    Without an exposure response (no EXIF exposure, or one exposure class only), a bright pixel whose spread
    grows is hot and one with an ordinary spread partial; on developed images, where clipping and tone
    curves hide how a defect varies, a bright pixel that is not frozen counts as hot.
    """
    frozen = std <= FROZEN[source] * nb_std
    if z_mean > 0:
        if frozen:
            return "stuck"
        if response is not None and response.rate > 0 and response.dark_share > 0.5:
            return "warm" if response.rate < WARM_RATE[source] * levels.span else "hot"
        if response is not None:
            return "partial"
        if z_std > 3 or source == "rgb":
            return "hot"
        return "partial"
    if z_mean < 0 and (frozen or z_std < 0):
        return "dead"
    if z_mean < 0 and abs(z_mean) >= abs(z_std):
        return "dim"
    return "noisy" if z_std > 0 else "stuck"


def since_onset(c: Candidate, share: float, *, levels: Levels, source: str) -> Candidate:
    """A dark-current defect that appeared partway: its rate was fitted over every photo, ``share`` of which
    came after its onset, so the rate since then is ``rate / share``; hot or warm by that rate."""
    if c.kind not in ("hot", "warm") or c.dark_rate is None or not 0 < share < 1:
        return c
    rate = c.dark_rate / share
    kind = "warm" if rate < WARM_RATE[source] * levels.span else "hot"
    return replace(c, dark_rate=rate, kind=kind)


# Calibration of ``confidence``: logistic in the log score and the unconfirmed flag, fitted on every entry
# down to score 3 of 12 simulator archives (planted defects, 60-300 RAW+JPEG shots, three sensors) and 12
# defect-free cameras, seeds 0-3; checked on seeds 20-22: entries at confidence >= 0.9 were real in 99.4 %
# (fit) and 99.2 % (check) of cases, and every bin with more than 5 entries within 0.1 of its share of real
# defects. The sign test adds nothing once the score holds it (``rank._agreeing``).
_CALIBRATION = (-7.73, 4.275, -1.95)
LINES = ("bad_column", "bad_row")


def confidence(
    kind: str,
    score: float,
    n: int,
    n_long: int | None,
    consistency: float | None = None,
    unconfirmed: bool = False,
) -> float:
    """The probability that the entry is a real defect (0..1), from its score and whether its photos
    confirm it one by one (``unconfirmed``).

    Stores without pair statistics (``consistency`` None for a point defect) keep the old heuristic, which
    grows with the score above noise and with the photos that can show the defect; it is not a calibrated
    probability (their scores hold no sign test)."""
    if consistency is None and kind not in LINES:
        photos = n_long if kind in ("hot", "warm") and n_long is not None else n
        value = (1.0 - math.exp(-photos / 20.0)) * (1.0 - math.exp(-max(score - 3.0, 0.0) / 5.0))
        return round(value, 3)
    bias, per_log_score, if_unconfirmed = _CALIBRATION
    logit = bias + per_log_score * math.log(max(score, 1e-3)) + if_unconfirmed * unconfirmed
    return round(1.0 / (1.0 + math.exp(-min(max(logit, -50.0), 50.0))), 3)


_MEANING = {
    "hot": "dark signal that grows with exposure",
    "warm": "a weak dark signal that shows in long exposures",
    "stuck": "bright and nearly frozen while its neighbours vary",
    "dead": "dark and nearly frozen while its neighbours vary",
    "partial": "a fixed offset above its neighbours, whatever the exposure",
    "dim": "darker than its neighbours but still following the scene",
    "noisy": "varies far more than its neighbours at a normal level",
    "bad_column": "its whole column is offset from the neighbouring columns",
    "bad_row": "its whole row is offset from the neighbouring rows",
}


def reason(c: Candidate) -> str:
    """A sentence a user can read: how the pixel compares with its neighbours, and what that means."""
    spread = c.std / c.neighbour_std if c.neighbour_std > 0 else float("inf")
    facts = (
        f"mean {c.mean:.4g} vs {c.neighbour_mean:.4g} around it (z {c.z_mean:+.1f}), "
        f"spread {c.std:.4g} vs {c.neighbour_std:.4g} (x{spread:.2f}, z {c.z_std:+.1f}) over {c.n} photos"
    )
    if c.z_long is not None:
        facts += f"; z {c.z_long:+.1f} in {c.n_long} long exposures"
    if c.dark_rate is not None and c.offset is not None:
        facts += f"; excess = ({c.offset:.3g} + {c.dark_rate:.3g} x seconds) x ISO/100"
    if c.score < MIN_SCORE:
        return f"{facts}: within what its neighbourhood shows (score {c.score:.1f} < {MIN_SCORE:g})"
    meaning = _MEANING[c.kind]
    if c.kind == "hot" and c.dark_rate is None:
        meaning = (
            "brighter than its neighbours, and varying more: dark signal that grows with exposure"
            if c.z_std > 0
            else "brighter than its neighbours (a developed image's clipping hides how it grows with exposure)"
        )
    return f"{facts}: {meaning}"
