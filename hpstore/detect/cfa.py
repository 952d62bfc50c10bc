"""Which samples are a sample's neighbours: the same colour filter on a RAW mosaic, outside the smear of a
demosaiced or JPEG defect on a developed image. Analysis, the per-photo scan and the pair statistics of the
state (``stats.Pairs``) all compare a sample with neighbours at this distance."""

from __future__ import annotations


def geometry(source: str, pattern: str | None) -> tuple[int, int]:
    """(CFA period, neighbour distance): same-colour neighbours on RAW, outside the smear on RGB."""
    period = round(len(pattern) ** 0.5) if source == "raw" and pattern else 1
    return period, (period if source == "raw" else 2)


def pair_distance(source: str, pattern: str | None) -> int:
    """The distance of the neighbours a state's pair statistics are kept with."""
    return geometry(source, pattern)[1]
