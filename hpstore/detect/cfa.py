"""How a state's values are laid out: which samples are a sample's neighbours (the same colour filter on a
RAW mosaic, outside the smear of a demosaiced or JPEG defect on a developed image), and the levels they
lie between. Ranking, the per-photo scan and the pair statistics of the state (``stats.Pairs``) all
compare a sample with neighbours at this distance."""

from __future__ import annotations

from dataclasses import dataclass

from hpstore.detect.classes import Levels

TILE = 32  # samples of one colour per tile side for the ranking's local scale


def spacing(source: str, pattern: str | None) -> tuple[int, int]:
    """(CFA step, neighbour distance): the step is the colour pattern's repeat in rows and columns (2 for
    RGGB, 1 on a developed image); neighbours are the same colour on RAW, 2 px away (outside the smear) on RGB."""
    step = round(len(pattern) ** 0.5) if source == "raw" and pattern else 1
    return step, (step if source == "raw" else 2)


def pair_distance(source: str, pattern: str | None) -> int:
    """The distance of the neighbours a state's pair statistics are kept with."""
    return spacing(source, pattern)[1]


@dataclass(frozen=True)
class Layout:
    """What every detector needs to know of a state besides its arrays: its ``source`` (``"raw"``: a CFA
    mosaic of one channel whose colours ``pattern`` gives row by row, e.g. ``"RGGB"``; ``"rgb"``: a
    developed image) and the black and white ``levels`` its values lie between."""

    source: str
    pattern: str | None = None
    levels: Levels = Levels(0.0, 255.0)  # noqa: RUF009 - frozen, so one shared default is safe

    @property
    def raw(self) -> bool:
        return self.source == "raw"

    @property
    def step(self) -> int:
        """The colour pattern's repeat in rows and columns (1 on a developed image)."""
        return spacing(self.source, self.pattern)[0]

    @property
    def distance(self) -> int:
        """How far a sample's neighbours lie."""
        return spacing(self.source, self.pattern)[1]

    @property
    def floor(self) -> float:
        """The smallest noise scale: what quantisation of the stored values allows."""
        return self.levels.span * 1e-4 if self.raw else 0.05

    def channel(self, r: int, col: int, c: int, channels: int) -> str:
        """The colour of sample (r, col, c): its CFA letter on RAW, else L or R, G, B."""
        if self.raw:
            return self.pattern[(r % self.step) * self.step + col % self.step] if self.pattern else "L"
        return "L" if channels == 1 else "RGB"[c]
