"""Progress on long work: a rich bar on stderr while a stage runs, only when stderr is a terminal.

In a pipe, a log file, CI or a Prefect worker nothing is drawn, and `ALFLOW_PROGRESS=0` turns the
bars off everywhere. Bars are transient (they vanish when the work is done), so the lines a
command prints stay the same with or without them. The pure selection layer never draws: stages
wrap the iterators they feed it (`rows`) or the calls they make (`activity`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T", bound=Sized)

_console: Any = None  # where bars are drawn; None: a stderr console of their own


def draw_on(console: Any) -> None:
    """Draw bars on `console` (a rich Console on stderr), so that they nest under its own live
    display (the CLI's round status line) instead of fighting it for the terminal's lines."""
    global _console
    _console = console


def enabled() -> bool:
    """Whether bars are drawn: stderr is a terminal and ALFLOW_PROGRESS is not 0."""
    setting = os.environ.get("ALFLOW_PROGRESS", "")
    if setting in {"0", "false", "no"}:
        return False
    return setting in {"1", "true", "yes"} or sys.stderr.isatty()


@contextmanager
def bar(description: str, *, total: float | None = None, unit: str = "") -> Iterator[Callable[[float], None]]:
    """A bar (a spinner with elapsed time when `total` is None); yields `advance(amount)`."""
    if not enabled():
        yield lambda amount: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn(), TextColumn(unit), TimeRemainingColumn()]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=_console or Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda amount: progress.advance(task, amount)


def rows(chunks: Iterable[T], *, total: int | None, description: str, size: Callable[[T], int] = len) -> Iterator[T]:
    """`chunks` unchanged, advancing a bar by `size(chunk)` rows as each one is consumed."""
    with bar(description, total=total, unit="rows") as advance:
        for chunk in chunks:
            yield chunk
            advance(size(chunk))


@contextmanager
def activity(description: str) -> Iterator[None]:
    """A spinner with the elapsed time around work that cannot count its steps."""
    with bar(description):
        yield
