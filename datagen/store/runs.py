"""Run bookkeeping: every command invocation is a row with its resolved config, status and counters."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from datagen import __version__
from datagen.store.engine import Store
from datagen.store.models import Run, utcnow


@cache
def code_version() -> str:
    """Package version plus the git commit (with ``-dirty`` when the tree has changes), when in a checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+{sha}{'-dirty' if dirty else ''}" if sha else __version__


def new_run(s: Session, kind: str, config: dict[str, Any], parent_run_id: int | None = None) -> Run:
    """A run row in the session's transaction (``start_run`` commits it at once; import keeps it in its own)."""
    run = Run(kind=kind, config=config, code_version=code_version(), parent_run_id=parent_run_id)
    s.add(run)
    s.flush()
    return run


def close_run(
    run: Run, status: str, counters: dict[str, Any] | None = None, error: str | None = None
) -> None:
    run.status = status
    run.finished_at = utcnow()
    if counters is not None:
        run.counters = dict(counters)
    run.error = error


def start_run(store: Store, kind: str, config: dict[str, Any], parent_run_id: int | None = None) -> int:
    with store.session() as s:
        return new_run(s, kind, config, parent_run_id).id


def finish_run(
    store: Store, run_id: int, status: str, counters: dict[str, Any] | None = None, error: str | None = None
) -> None:
    with store.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        close_run(run, status, counters, error)


class RunHandle:
    """What a running command holds: its id and counters it updates as it goes."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.id = run_id
        self.counters: dict[str, Any] = {}

    def count(self, key: str, n: int | float = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def save_counters(self) -> None:
        with self.store.session() as s:
            run = s.get(Run, self.id)
            assert run is not None
            run.counters = dict(self.counters)


def tracked_run(
    store: Store, kind: str, config: dict[str, Any], parent_run_id: int | None = None
) -> AbstractContextManager[RunHandle]:
    """Record a new run: succeeded on normal exit, interrupted on Ctrl-C, failed (with the error) otherwise."""
    return tracking(RunHandle(store, start_run(store, kind, config, parent_run_id)))


@contextmanager
def tracking(handle: RunHandle) -> Iterator[RunHandle]:
    """Finish ``handle``'s run by how the block ends (also for a run that was reopened to resume it)."""
    store = handle.store
    try:
        yield handle
    except KeyboardInterrupt:
        finish_run(store, handle.id, "interrupted", handle.counters, "interrupted by the user")
        raise
    except BaseException as e:
        finish_run(store, handle.id, "failed", handle.counters, f"{type(e).__name__}: {e}")
        raise
    finish_run(store, handle.id, "succeeded", handle.counters)
