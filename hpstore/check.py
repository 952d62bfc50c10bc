"""``hpstore check``: verify that state and catalog agree, and repair what is safe to repair."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from .catalog import INGESTED, File
from .errors import StateError
from .lock import StoreLock
from .settings import Settings
from .store import Store


@dataclass
class CheckReport:
    """Problems found (each one line), and what ``repair`` fixed."""

    groups: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "groups": self.groups,
            "files": self.files,
            "problems": self.problems,
            "repaired": self.repaired,
        }


def check(settings: Settings, *, repair: bool = False) -> CheckReport:
    """Check every group's committed state against the catalog; with ``repair``, delete leftovers of
    interrupted commits (generations and groups the catalog does not point at) under the writer lock."""
    report = CheckReport()
    with Store(settings, create=False) as store:
        groups = store.catalog.groups()
        with store.catalog.read() as s:
            stmt = select(File.group_id, func.count()).where(File.status == INGESTED).group_by(File.group_id)
            counted = dict(s.execute(stmt).tuples().all())
            report.files = s.scalar(select(func.count()).select_from(File)) or 0
        report.groups = len(groups)
        for group in groups:
            name = f"group {group.id} ({group.source} {group.width}x{group.height})"
            if group.n:
                try:
                    state = store.state.read(group.id, group.generation, group.n)
                    if state.shape != (group.height, group.width, group.channels):
                        report.problems.append(f"{name}: state shape {state.shape} does not match the catalog")
                except StateError as err:
                    report.problems.append(f"{name}: {err}")
            if counted.get(group.id, 0) != group.n:
                report.problems.append(
                    f"{name}: state counts {group.n} frames but the catalog lists {counted.get(group.id, 0)} "
                    "ingested files"
                )
        garbage = store.garbage()
        if not garbage:
            return report
        what = [f"g{gid}/v{gen}" for gid, gen in garbage]
        if not repair:
            report.problems.append(f"leftovers of interrupted commits: {', '.join(what)} (remove with --repair)")
            return report
        with StoreLock(store.path, wait=False, mark_run=False):
            store.collect_garbage()
        report.repaired.append(f"removed leftovers of interrupted commits: {', '.join(what)}")
    return report
