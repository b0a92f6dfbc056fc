"""Run bookkeeping: every command invocation is a row with its resolved config, status and counters.

A run ends as one of ``RUN_STATUSES``: ``succeeded``; ``partial`` (it finished, but some requests failed after
their retries: they are in ``request_failures`` and a rerun sends only them again); ``budget_stopped`` (the
budget cap stopped it; what finished is cached); ``failed`` (an error, in ``error``); ``interrupted`` (Ctrl-C,
SIGTERM, or its process died: see ``datagen.store.lease``). While it runs it holds a lease (host, pid,
heartbeat) renewed by a background thread.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from datagen import __version__
from datagen.errors import BudgetExceeded, RequestsFailed
from datagen.lm import usage
from datagen.store import lease
from datagen.store.engine import Store
from datagen.store.models import Run, utcnow
from datagen.urls import masked, masked_data

RUN_STATUSES = ("running", "succeeded", "partial", "budget_stopped", "failed", "interrupted")


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
    """A run row in the session's transaction (``start_run`` commits it at once; import keeps it in its own),
    with this process's lease. A password in a URL in ``config`` is stored masked (``datagen.urls``)."""
    run = Run(kind=kind, config=masked_data(config), code_version=code_version(), parent_run_id=parent_run_id)
    lease.stamp(run)
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
    run.error = None if error is None else masked(error)


def start_run(store: Store, kind: str, config: dict[str, Any], parent_run_id: int | None = None) -> int:
    """A new run, committed at once; runs left ``running`` by dead processes are marked interrupted first."""
    with store.session() as s:
        lease.reap(s)
        return new_run(s, kind, config, parent_run_id).id


def finish_run(
    store: Store, run_id: int, status: str, counters: dict[str, Any] | None = None, error: str | None = None
) -> None:
    """Close the run; runs left ``running`` by dead processes (a killed worker, say) are marked interrupted too."""
    with store.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        close_run(run, status, counters, error)
        s.flush()
        lease.reap(s)


class RunHandle:
    """What a running command holds: its id, the counters it updates as it goes, and how it ended."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.id = run_id
        self.counters: dict[str, Any] = {}
        self.status = "running"

    def count(self, key: str, n: int | float = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def save_counters(self) -> None:
        with self.store.session() as s:
            self.write_counters(s)

    def write_counters(self, s: Session) -> None:
        """Write the counters in the caller's transaction (the executor writes them with each cached answer)."""
        s.execute(
            update(Run)
            .where(Run.id == self.id)
            .values(counters=dict(self.counters))
            .execution_options(synchronize_session=False)
        )


def tracked_run(
    store: Store, kind: str, config: dict[str, Any], parent_run_id: int | None = None
) -> AbstractContextManager[RunHandle]:
    """Record a new run: succeeded on normal exit, interrupted on Ctrl-C, failed (with the error) otherwise.
    Its progress is shown as a stage named ``kind`` (``datagen.progress``)."""
    return tracking(RunHandle(store, start_run(store, kind, config, parent_run_id)), kind)


@contextmanager
def tracking(handle: RunHandle, stage: str) -> Iterator[RunHandle]:
    """Hold ``handle``'s lease (heartbeat) while the block runs, then finish the run by how it ended (also for a
    run reopened to resume it): see ``RUN_STATUSES``. The local models it ran are stored in its counters
    (``models``: {model: "device dtype"}, ``device``; see ``datagen.lm.usage``). The block is a progress
    ``stage`` that ends as the run."""
    from datagen import progress

    with progress.stage(stage, handle.id) as st:
        try:
            with _leased(handle):
                yield handle
        finally:
            st.outcome = handle.status


@contextmanager
def _leased(handle: RunHandle) -> Iterator[RunHandle]:
    store = handle.store
    beat = lease.Heartbeat(store, handle.id).start()
    try:
        with usage.recording() as used:
            try:
                yield handle
            finally:
                handle.counters.update(usage.counters(used))  # the local models it ran, device and dtype
    except BaseException as e:
        handle.status, error = ended_by(e)
        finish_run(store, handle.id, handle.status, handle.counters, error)
        raise
    finally:
        beat.stop()
    failed = handle.counters.get("failed_requests")
    handle.status = "partial" if failed else "succeeded"
    finish_run(
        store, handle.id, handle.status, handle.counters, f"{failed} request(s) failed" if failed else None
    )


def ended_by(e: BaseException) -> tuple[str, str]:
    """The status and error a run gets when ``e`` ends it."""
    if isinstance(e, KeyboardInterrupt):  # Ctrl-C, or SIGTERM (datagen.errors.Terminated)
        return "interrupted", "interrupted by the user"
    if isinstance(e, BudgetExceeded):
        return "budget_stopped", str(e)
    if isinstance(e, RequestsFailed):
        return "partial", str(e)
    return "failed", f"{type(e).__name__}: {e}"
