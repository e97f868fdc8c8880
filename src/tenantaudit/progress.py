"""Progress on stderr for the work that can take more than a second (the catalogue audit, data
checks, probes table by table, each rehearsal phase): rich's live display when stderr is a
terminal, nothing otherwise, so that logs and pipes get the report and one-line errors only.

The code doing the work asks ``current()`` for a task; the CLI decides whether anything is shown
(``on_stderr()``). Each phase is one task, shown once and left on screen when done.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator


class Task:
    """A phase of work; silent unless the CLI shows progress."""

    def advance(self, amount: int = 1) -> None:
        pass

    def done(self, summary: str = "", *, mark: str = "✓", style: str = "green") -> None:
        pass

    def __enter__(self) -> "Task":
        return self

    def __exit__(self, *exc) -> None:
        self.done()


class Progress:
    def task(self, label: str, total: int | None = None) -> Task:
        return Task()


class _RichTask(Task):
    """A live bar (or spinner, without a total) while running; one line on screen when done."""

    def __init__(self, bar, label: str, total: int | None):
        self.bar, self.label, self.started, self.finished = bar, label, time.perf_counter(), False
        self.id = bar.add_task(label, total=total)

    def advance(self, amount: int = 1) -> None:
        if not self.finished:
            self.bar.advance(self.id, amount)

    def done(self, summary: str = "", *, mark: str = "✓", style: str = "green") -> None:
        if self.finished:  # once: a phase is never shown twice
            return
        self.finished = True
        from rich.text import Text

        self.bar.remove_task(self.id)
        line = Text(f"{mark} ", style=style)
        line.append(f"{self.label} ({time.perf_counter() - self.started:.2f}s)" + (f" — {summary}" if summary else ""))
        self.bar.console.print(line)


class _RichProgress(Progress):
    def __init__(self, bar):
        self.bar = bar

    def task(self, label: str, total: int | None = None) -> Task:
        return _RichTask(self.bar, label, total)


_current: Progress = Progress()


def current() -> Progress:
    return _current


@contextmanager
def on_stderr() -> Iterator[None]:
    """Show progress on stderr for the duration, when stderr is a terminal."""
    global _current
    if not sys.stderr.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, SpinnerColumn, TextColumn, TimeElapsedColumn

    bar = RichProgress(
        SpinnerColumn(), TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True, highlight=False), transient=True,
    )
    with bar:
        _current = _RichProgress(bar)
        try:
            yield
        finally:
            _current = Progress()
