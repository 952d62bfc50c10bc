"""Printing rows as an aligned table, JSON or CSV."""

from __future__ import annotations

import csv
import enum
import json
import sys
from collections.abc import Sequence
from typing import Any


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def print_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: Format) -> None:
    """Print ``rows``: every field for JSON, the given ``columns`` for a table or CSV."""
    if fmt is Format.json:
        json.dump(list(rows), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return
    if fmt is Format.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
        return
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
