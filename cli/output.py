"""Printing rows as an aligned table, JSON or CSV."""

from __future__ import annotations

import csv
import enum
import json
import sys
from collections.abc import Sequence
from typing import Any


class Format(enum.StrEnum):
    """Every command's ``--format``: ``table`` and ``text`` are the same words for people, ``json`` and
    ``csv`` are for scripts."""

    table = "table"
    text = "text"
    json = "json"
    csv = "csv"

    @property
    def human(self) -> bool:
        return self in (Format.table, Format.text)


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


def print_report(report: dict[str, Any], fmt: Format) -> bool:
    """Print a command's report for scripts (JSON, or CSV: one row, lists joined by "; "); False for the
    human formats, which the command prints itself."""
    if fmt is Format.json:
        print(json.dumps(report, indent=2, default=str))
    elif fmt is Format.csv:
        flat = {k: "; ".join(map(str, v)) if isinstance(v, list | tuple) else v for k, v in report.items()}
        print_rows([flat], list(flat), fmt)
    return not fmt.human
