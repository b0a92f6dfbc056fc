"""Progress bars on stderr with counts and ETA (quiet when stderr is not a terminal or DATAGEN_PROGRESS=0)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def enabled() -> bool:
    flag = os.environ.get("DATAGEN_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no")
    return sys.stderr.isatty()


class _Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self._p, self._t = progress, task

    def advance(self, n: float = 1, **fields: Any) -> None:
        if self._p is not None:
            self._p.update(self._t, advance=n, **fields)

    def update(self, **fields: Any) -> None:
        if self._p is not None:
            self._p.update(self._t, **fields)


def silent() -> _Bar:
    """A bar that shows nothing (for callers that were asked not to show progress)."""
    return _Bar(None, None)


@contextmanager
def bar(description: str, total: float | None, extra: str = "") -> Iterator[_Bar]:
    """``with bar("generating", total=n, extra="{task.fields[cost]}") as b: b.advance(k, cost="$0.01")``."""
    if not enabled():
        yield _Bar(None, None)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns: list[Any] = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    ]
    if extra:
        columns.append(TextColumn(extra))
    with Progress(*columns, console=Console(stderr=True), transient=False) as p:
        fields: dict[str, Any] = {name: "" for name in _field_names(extra)}
        yield _Bar(p, p.add_task(description, total=total, **fields))


def _field_names(extra: str) -> list[str]:
    import re

    return re.findall(r"task\.fields\[(\w+)\]", extra)
