"""Run leases: which process holds a running run, and whether that process is still alive.

A run is written with the host and pid of its process and a heartbeat, which a background thread of that process
renews every ``HEARTBEAT_S`` seconds while the run is open. Another process judges a ``running`` run by it:

* held by this process: alive while this process holds it (``hold``/``release``);
* on this host: alive while its pid exists (a zombie counts as dead), so a ``kill -9`` shows at once, and its
  heartbeat is younger than ``SAME_HOST_LEASE_S`` (a pid reused after a reboot is not taken for the run);
* on another host (or a row without a host): alive while its heartbeat is younger than ``LEASE_S``
  (``DATAGEN_LEASE_S``, default 30 s).

A ``running`` run that is not alive is *stale*: ``datagen runs`` shows it as interrupted (stale); a rerun resumes
it (generation adopts its records); starting a run marks the stale ones ``interrupted`` (``reap``). A live run is
never touched by another process. Runs written before leases existed (no host, no heartbeat) are stale.
Limits: two machines with the same host name and pid namespace would be taken for one; a process whose
heartbeat cannot write for ``LEASE_S`` (a database unreachable that long) looks dead to other hosts.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from datagen.store.engine import Store
from datagen.store.models import Run, utcnow

log = logging.getLogger(__name__)

HEARTBEAT_S = 5.0
LEASE_S = float(os.environ.get("DATAGEN_LEASE_S", "30"))
SAME_HOST_LEASE_S = max(LEASE_S, 600.0)
HOST = socket.gethostname()[:255]
STALE_ERROR = "stale: its process stopped without closing it (lease lapsed)"

_held: set[int] = set()  # runs this process holds
_held_lock = threading.Lock()


def hold(run_id: int) -> None:
    with _held_lock:
        _held.add(run_id)


def release(run_id: int) -> None:
    with _held_lock:
        _held.discard(run_id)


def stamp(run: Run) -> None:
    """Give ``run`` this process's lease (a new run, or one reopened to resume it)."""
    run.host, run.pid, run.heartbeat_at = HOST, os.getpid(), utcnow()


def _age_s(at: datetime | None, now: datetime) -> float:
    if at is None:
        return float("inf")
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=timezone.utc)
    return (now - at).total_seconds()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_alive(run: Run, now: datetime | None = None) -> bool:
    """Whether a run is running in a live process (see the module docstring)."""
    if run.status != "running":
        return False
    now = now or utcnow()
    age = _age_s(run.heartbeat_at, now)
    if run.host == HOST and run.pid is not None:
        if run.pid == os.getpid():
            with _held_lock:
                return run.id in _held
        return age < SAME_HOST_LEASE_S and pid_alive(run.pid)
    return age < LEASE_S


def stale_ids(s: Session) -> list[int]:
    """Runs marked ``running`` whose process is gone."""
    now = utcnow()
    return [r.id for r in s.scalars(select(Run).where(Run.status == "running")) if not is_alive(r, now)]


def live_ids(s: Session) -> list[int]:
    """Runs running in a live process (this one's included)."""
    now = utcnow()
    return [r.id for r in s.scalars(select(Run).where(Run.status == "running")) if is_alive(r, now)]


def reap(s: Session) -> list[int]:
    """Mark the stale runs ``interrupted`` (their counters are kept as last saved); returns their ids."""
    ids = stale_ids(s)
    if ids:
        s.execute(
            update(Run)
            .where(Run.id.in_(ids), Run.status == "running")
            .values(status="interrupted", error=STALE_ERROR)
            .execution_options(synchronize_session=False)
        )
    return ids


class Heartbeat:
    """Renews a run's heartbeat every ``HEARTBEAT_S`` seconds from a daemon thread until ``stop``."""

    def __init__(self, store: Store, run_id: int, every_s: float = HEARTBEAT_S) -> None:
        self.store, self.run_id, self.every_s = store, run_id, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"datagen-heartbeat-{run_id}", daemon=True)

    def start(self) -> Heartbeat:
        hold(self.run_id)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        release(self.run_id)

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                with self.store.session() as s:
                    s.execute(
                        update(Run)
                        .where(Run.id == self.run_id, Run.status == "running")
                        .values(heartbeat_at=utcnow())
                        .execution_options(synchronize_session=False)
                    )
            except Exception as e:  # a missed beat is not fatal; LEASE_S allows several
                log.warning("heartbeat of run %s failed: %s", self.run_id, e)
