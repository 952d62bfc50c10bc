"""Turn the library's ingest events into a progress bar (on a terminal) and one-line problem reports."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from hpstore.ingest.pipeline import Event


class IngestView:
    """Receives ``Event``s; draws a bar with files/s and ETA when stderr is a terminal and not ``quiet``."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        if not quiet and self.console.is_terminal:
            self.bar = Progress(
                TextColumn("{task.description:<11}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} files/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )

    def __enter__(self) -> IngestView:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar:
            self.bar.stop()

    def __call__(self, event: Event) -> None:
        if event.kind == "phase" and self.bar:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self.task = self.bar.add_task(event.text, total=event.total or None, rate="-")  # 0: open-ended
        elif event.kind == "advance" and self.bar and self.task is not None:
            self.bar.advance(self.task)
            speed = self.bar.tasks[-1].speed
            self.bar.update(self.task, rate=f"{speed:.1f}" if speed else "-")
        elif event.kind == "problem" and not self.quiet:
            self.say(f"{event.status}: {event.path}: {event.text}")
        elif event.kind == "notice" and not self.quiet:
            self.say(f"note: {event.text}")

    def say(self, line: str) -> None:
        if self.bar:
            self.bar.console.print(line, markup=False)
        else:
            print(line, file=sys.stderr, flush=True)
