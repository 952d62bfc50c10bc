"""Rankings kept per state version (the ``rankings`` table of the catalog): a family's dated defects for one
state and one set of query options, as the first query of that state computed them. Light: reading them back
needs neither the state nor the ranking's kernels, so a repeated query starts and answers at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpstore.detect.classes import Candidate
from hpstore.store.catalog import Catalog, Group
from hpstore.timeaxis import onset
from hpstore.timeaxis.window import Window


@dataclass(frozen=True)
class DatedDefect:
    """A defect of a family over a window: its ranking entry, when photos showed it, and whether the latest
    year alone found it."""

    candidate: Candidate
    seen: onset.Seen | None
    latest: bool  # found or classified in the latest year alone (``latest_period`` in query output)


KEEP = True  # keep each ranking in the catalog for the next query of the same state and options


def family_key(family: Sequence[Group]) -> str:
    """A family's name in the rankings kept: camera, source and stored size."""
    g = family[0]
    return f"{g.camera_id}/{g.source}/{g.height}x{g.width}x{g.channels}/{g.bits}"


@functools.cache
def code_version() -> str:
    """A digest of the code that ranks and dates (``detect/``, ``timeaxis/``, ``stats.py``): a ranking kept by
    another version of hpstore is never served."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted([*root.glob("detect/*.py"), *root.glob("timeaxis/*.py"), root / "stats.py"]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def state_version(family: Sequence[Group]) -> str:
    """A name for the family's committed state and per-photo evidence, and for the code that ranks it: it
    changes with every commit, compaction, refiling and re-dating of any of its groups, and with hpstore."""
    parts = sorted(
        (g.id, g.generation, g.n, g.period, g.exposure, g.updated_at.isoformat() if g.updated_at else "")
        for g in family
    )
    return hashlib.sha256(json.dumps([code_version(), parts]).encode()).hexdigest()[:32]


def options_key(window: Window, top: int, min_score: float, kinds: set[str] | None) -> str:
    since, until = (w.isoformat() if w else None for w in (window.since, window.until))
    return json.dumps([since, until, top, repr(float(min_score)), sorted(kinds) if kinds else None])


def _pack(found: Sequence[DatedDefect]) -> str:
    def seen(s: onset.Seen | None) -> dict[str, Any] | None:
        if s is None:
            return None
        out = dataclasses.asdict(s)
        out.update(first=s.first.isoformat() if s.first else None, last=s.last.isoformat() if s.last else None)
        return out

    return json.dumps([[dataclasses.asdict(f.candidate), seen(f.seen), f.latest] for f in found])


def _unpack(text: str) -> list[DatedDefect]:
    out = []
    for cand, seen, latest in json.loads(text):
        if seen is not None:
            for key in ("first", "last"):
                seen[key] = dt.datetime.fromisoformat(seen[key]) if seen[key] else None
        out.append(DatedDefect(Candidate(**cand), None if seen is None else onset.Seen(**seen), latest))
    return out


def lookup(
    catalog: Catalog,
    family: Sequence[Group],
    *,
    window: Window,
    top: int,
    min_score: float,
    kinds: set[str] | None,
) -> list[DatedDefect] | None:
    """The family's defects as kept for its current state and these options, or None."""
    text = catalog.ranking(family_key(family), state_version(family), options_key(window, top, min_score, kinds))
    return None if text is None else _unpack(text)


def keep(
    catalog: Catalog,
    family: Sequence[Group],
    found: Sequence[DatedDefect],
    *,
    window: Window,
    top: int,
    min_score: float,
    kinds: set[str] | None,
) -> None:
    """Keep the family's defects for its current state and these options (where the catalog can be written)."""
    options = options_key(window, top, min_score, kinds)
    catalog.keep_ranking(family_key(family), state_version(family), options, _pack(found))
