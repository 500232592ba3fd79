"""The progress bar of long commands (verify, retention apply): done of total,
time taken, on stderr, gone once the command ends so stdout stays the result."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn


def progress_bar(console: Console) -> Progress:
    """A transient bar of `done/total` and elapsed time, drawn on `console`."""
    return Progress(
        *Progress.get_default_columns()[:-1],
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def reporter(progress: Progress, name: str) -> Callable[[int, int], None]:
    """A task on the bar, and the `progress(done, total)` callback that moves it."""
    task = progress.add_task(name, total=None)
    return lambda done, total: progress.update(task, completed=done, total=total)
