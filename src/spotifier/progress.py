"""Progress bars and thread limits, controlled in one place.

Long work wraps its loop in `track(...)`. Bars are drawn on stderr only when it is a terminal and
quiet mode is off; the CLI's `--quiet` and the HTTP server switch them off with `set_quiet(True)`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

_quiet = False


class SafeConsole(Console):
    """A console whose messages may hold a user's text: paths, titles, track names.

    Rich reads "[...]" as markup, and "[/]" or "[/x]" in a folder name or a track title would raise
    `MarkupError` after the command's work is done. Call sites escape such values; should one be
    missed, the message is printed as it is rather than failing.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:
        from rich.errors import MarkupError

        try:
            super().print(*objects, **kwargs)
        except MarkupError:
            super().print(*objects, **{**kwargs, "markup": False})


stderr = SafeConsole(stderr=True)


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def enabled() -> bool:
    return not _quiet and sys.stderr.isatty()


def make_progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[extra]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=not enabled(),
        transient=False,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate `items` while drawing a bar (when enabled)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with make_progress() as progress:
        task = progress.add_task(description, total=total, extra="")
        for item in items:
            yield item
            progress.advance(task)


def note(message: str) -> None:
    """A one-line notice on stderr (not suppressed by --quiet: notices matter)."""
    stderr.print(message, highlight=False)


def cpu_count() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


_controller: tuple[int, Any] | None = None


def _threadpool_controller() -> Any:
    """One ThreadpoolController, rebuilt only when modules were imported since (new native
    libraries): building one scans every loaded library (milliseconds), which a server calling
    `blas_threads` per request cannot afford."""
    global _controller
    from threadpoolctl import ThreadpoolController

    if _controller is None or _controller[0] != len(sys.modules):
        _controller = (len(sys.modules), ThreadpoolController())
    return _controller[1]


@contextmanager
def blas_threads(n: int | None = None) -> Iterator[None]:
    """Limit BLAS/OpenMP threads for the duration (implicit and torch want 1 BLAS thread)."""
    with _threadpool_controller().limit(limits=n if n is not None else cpu_count()):
        yield
