"""Calendar periods: the time axis of the store.

Each state group holds the photos of one period (its capture dates), so a query over a date window merges
the groups inside it (Chan merge, exact) and a camera's whole life is the merge of all of them. The period
size is chosen at ingest (``year`` by default: a dense state costs about 12 bytes per photosite per period
and exposure class); groups of different sizes can live side by side, since every photo is in exactly one.

Labels sort in time order within a size: ``2021``, ``2021-Q3``, ``2021-07``. ``undated`` holds photos
without a capture time; ``all`` holds groups made before periods existed (catalog revision 0002).
"""

from __future__ import annotations

import datetime as dt
import re

from hpstore.errors import BadArgument
from hpstore.types import Period

SIZES = tuple(p.value for p in Period)  # year, quarter, month
UNDATED = "undated"
ALL = "all"


def check_size(size: str) -> str:
    if size not in SIZES:
        raise BadArgument(f"period must be one of {', '.join(SIZES)}, not {size!r}")
    return size


def label(when: dt.datetime | dt.date | None, size: str) -> str:
    """The label of the period of ``size`` that holds ``when``."""
    if when is None:
        return UNDATED
    if size == "year":
        return f"{when.year:04d}"
    if size == "quarter":
        return f"{when.year:04d}-Q{(when.month - 1) // 3 + 1}"
    if size == "month":
        return f"{when.year:04d}-{when.month:02d}"
    raise ValueError(f"unknown period size {size!r}")


def span(text: str) -> tuple[dt.datetime, dt.datetime] | None:
    """[start, end) of a period label (``FIRST..LAST`` for periods merged by ``hpstore compact``); ``None``
    for ``undated`` and ``all`` (no known span)."""
    if text in (UNDATED, ALL):
        return None
    if ".." in text:
        head, tail = text.split("..")
        a, b = span(head), span(tail)
        return None if a is None or b is None else (a[0], b[1])
    year = int(text[:4])
    if len(text) == 4:
        return dt.datetime(year, 1, 1), dt.datetime(year + 1, 1, 1)
    if text[5] == "Q":
        first = 3 * (int(text[6]) - 1) + 1
        return dt.datetime(year, first, 1), _add_months(dt.datetime(year, first, 1), 3)
    month = int(text[5:7])
    return dt.datetime(year, month, 1), _add_months(dt.datetime(year, month, 1), 1)


def _add_months(when: dt.datetime, months: int) -> dt.datetime:
    index = when.year * 12 + when.month - 1 + months
    return dt.datetime(index // 12, index % 12 + 1, 1)


def labels_between(first: dt.datetime, last: dt.datetime, size: str) -> list[str]:
    """Every label of ``size`` from the period holding ``first`` to the one holding ``last``."""
    out: list[str] = []
    step = {"year": 12, "quarter": 3, "month": 1}[size]
    start = span(label(first, size))
    assert start is not None
    when = start[0]
    while when <= last:
        out.append(label(when, size))
        when = _add_months(when, step)
    return out


def parse_date(text: str, *, end: bool = False) -> dt.datetime:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` (optionally with a time, ISO 8601) as a datetime.

    With ``end`` a date names its whole span: ``--until 2021`` means up to the end of 2021, exclusive bound
    returned."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}", text):
            start = dt.datetime(int(text), 1, 1)
            return _add_months(start, 12) if end else start
        if re.fullmatch(r"\d{4}-\d{2}", text):
            start = dt.datetime(int(text[:4]), int(text[5:7]), 1)
            return _add_months(start, 1) if end else start
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T].*)?", text):
            raise ValueError(text)
        when = dt.datetime.fromisoformat(text)
    except ValueError as err:
        raise BadArgument(f"not a date: {text!r} (use YYYY, YYYY-MM or YYYY-MM-DD)") from err
    if len(text) == 10 and end:
        return when + dt.timedelta(days=1)
    return when


def bound(value: str | dt.date | None, *, end: bool = False) -> dt.datetime | None:
    """A window's bound from text (:func:`parse_date`), a date or a datetime. With ``end``, a date or a
    text date includes its whole span (the exclusive bound after it is returned); a datetime is exact."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_date(value, end=end)
    if isinstance(value, dt.datetime):
        # Capture times are the camera's clock (naive); an aware bound is taken in this machine's zone.
        return value if value.tzinfo is None else value.astimezone().replace(tzinfo=None)
    start = dt.datetime(value.year, value.month, value.day)
    return start + dt.timedelta(days=1) if end else start
