"""``hpstore check``: verify that state and catalog agree, that every photo sits with its camera, and repair
what is safe to repair."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from hpstore.errors import StateError
from hpstore.io.identity import Reidentified, describe, find_misfiled, refile
from hpstore.settings import Settings
from hpstore.store.storage import Storage

_EXAMPLES = 3  # misfiled paths named per camera pair


@dataclass
class CheckReport:
    """Problems found (each one line), and what ``repair`` fixed."""

    groups: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, but the store is sound

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "groups": self.groups,
            "files": self.files,
            "problems": self.problems,
            "repaired": self.repaired,
            "notes": self.notes,
        }


def check(
    settings: Settings, *, repair: bool = False, on_progress: Callable[[str], None] | None = None
) -> CheckReport:
    """Check every group's committed state against the catalog, and every photo an older reader identified
    against its camera as the current reader gives it.

    With ``repair`` (under the writer lock): delete leftovers of interrupted commits, and move misfiled
    photos to their cameras, rebuilding the states concerned from the photos (``hpstore.io.identity``). A
    photo that cannot be read again is named, and stays where it is.
    """
    report = CheckReport()
    Storage.require(settings)
    with ExitStack() as stack:
        if repair:
            stack.enter_context(Storage.writer_lock(settings, wait=False, mark_run=False))
        store = stack.enter_context(Storage(settings, create=repair))
        _check_states(store, report)
        _check_garbage(store, report, repair)
        found = find_misfiled(store, settings.workers)
        for row, key, why in found.unreadable:
            line = f"{row.path}: cannot be read again ({why}), so its camera was not checked"
            if repair:  # asked to put every photo with its camera, this one could not be
                report.problems.append(f"{line}; it stays with {describe(key)}")
            else:
                report.notes.append(line)
        if not found.misfiled:
            if repair and found.unchanged:
                refile(store, found)  # records that these photos were identified by the current reader
            return report
        if not repair:
            report.problems.extend(_misfiled_lines(found))
            return report
        done = refile(store, found, on_group=on_progress)
        pairs = Counter((m.old_key, m.new_key) for m in found.misfiled)
        for (old, new), count in sorted(pairs.items()):
            report.repaired.append(f"{count} photo(s) moved from {describe(old)} to {describe(new)}")
        if done.rebuilt:
            groups = ", ".join(map(str, done.rebuilt))
            report.repaired.append(f"rebuilt the state of group(s) {groups} from their photos")
        report.problems.extend(done.problems)
        report.groups = len(store.catalog.groups())
    return report


def _check_states(store: Storage, report: CheckReport) -> None:
    groups = store.catalog.groups()
    report.files, counted = store.catalog.file_counts()
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


def _check_garbage(store: Storage, report: CheckReport, repair: bool) -> None:
    garbage = store.garbage()
    if not garbage:
        return
    what = ", ".join(f"g{gid}/v{gen}" for gid, gen in garbage)
    if not repair:
        report.problems.append(f"leftovers of interrupted commits: {what} (a repairing check removes them)")
        return
    store.collect_garbage()
    report.repaired.append(f"removed leftovers of interrupted commits: {what}")


def _misfiled_lines(found: Reidentified) -> list[str]:
    """One line per (old camera, new camera) pair, naming a few of its photos."""
    by_pair: dict[tuple[str, str], list[str]] = {}
    for m in found.misfiled:
        by_pair.setdefault((m.old_key, m.new_key), []).append(m.file.path)
    lines = []
    for (old, new), paths in sorted(by_pair.items()):
        more = len(paths) - _EXAMPLES
        shown = ", ".join(paths[:_EXAMPLES]) + (f" and {more} more" if more > 0 else "")
        lines.append(
            f"{len(paths)} photo(s) filed under {describe(old)} belong to {describe(new)}: {shown} "
            "(a repairing check moves them)"
        )
    return lines
