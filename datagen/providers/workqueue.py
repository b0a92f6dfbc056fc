"""Workers that share a run: one executor call's uncached requests become ``work_items`` that any process
claims, on this machine (``--workers N``) or on others pointed at the same database (``datagen worker --run ID``).

The run's own process enqueues the items, works on them like every worker, and waits until each is done or
failed; the answers reach it through the request cache. A claim is ``SELECT ... FOR UPDATE SKIP LOCKED`` (on
SQLite, where writers queue anyway, a plain select in a ``BEGIN IMMEDIATE`` transaction), and it holds while the
claiming worker's run is alive: its heartbeat is the claim's heartbeat (``datagen.store.lease``). A worker that
is killed (SIGTERM, Ctrl-C) puts its claims back; one killed with SIGKILL loses them to the next claim made
after its lease lapses (at once on the same host). Its answers are in the cache already, with their payments on
the worker's own run (kind ``worker``, parent the shared run): nothing is lost or paid twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from datagen.providers.base import Request, SamplingParams
from datagen.store import lease
from datagen.store.engine import Store
from datagen.store.models import Run, WorkItem, utcnow

OPEN = ("pending", "claimed")


@dataclass
class Claimed:
    """A claimed item: its id, endpoint (as stored), requests and their cache keys."""

    id: int
    endpoint: dict[str, Any]
    requests: list[Request]
    keys: list[str]


def request_json(req: Request) -> dict[str, Any]:
    return {
        "messages": req.message_dicts(),
        "params": req.params.model_dump(mode="json"),
        "sample_index": req.sample_index,
    }


def request_of(data: dict[str, Any]) -> Request:
    return Request.of(data["messages"], SamplingParams(**data["params"]), data["sample_index"])


class WorkQueue:
    """The work items of one shared run."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store, self.run_id = store, run_id

    def enqueue(self, endpoint: dict[str, Any], shares: list[list[tuple[str, Request]]]) -> list[int]:
        """One pending item per share of (key, request); returns their ids."""
        with self.store.session() as s:
            items = [
                WorkItem(
                    run_id=self.run_id,
                    endpoint=endpoint,
                    requests=[request_json(r) for _, r in share],
                    keys=[k for k, _ in share],
                )
                for share in shares
            ]
            s.add_all(items)
            s.flush()
            return [it.id for it in items]

    def enqueue_ids(self, endpoint: dict[str, Any], batches: list[list[int]]) -> list[int]:
        """One pending item per batch of record ids (a shared filter run: ``filters.shared``); returns their ids."""
        with self.store.session() as s:
            items = [
                WorkItem(run_id=self.run_id, endpoint=endpoint, requests=[], keys=[str(i) for i in ids])
                for ids in batches
            ]
            s.add_all(items)
            s.flush()
            return [it.id for it in items]

    def claim(self, worker_run_id: int) -> Claimed | None:
        """The oldest pending item of the run, now claimed by ``worker_run_id``; claims of dead workers are
        taken back first. None when nothing is pending."""
        with self.store.session() as s:
            self._reclaim(s)
            item = s.scalars(
                select(WorkItem)
                .where(WorkItem.run_id == self.run_id, WorkItem.status == "pending")
                .order_by(WorkItem.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if item is None:
                return None
            item.status, item.worker_run_id, item.claimed_at = "claimed", worker_run_id, utcnow()
            item.attempts += 1
            return Claimed(
                item.id, dict(item.endpoint), [request_of(r) for r in item.requests], list(item.keys)
            )

    def finish(self, item_id: int, failed_keys: list[str]) -> None:
        """The item's requests were answered (in the cache) or failed after their retries (``failed_keys``)."""
        with self.store.session() as s:
            s.execute(
                update(WorkItem)
                .where(WorkItem.id == item_id)
                .values(status="failed" if failed_keys else "done", failed_keys=failed_keys)
                .execution_options(synchronize_session=False)
            )

    def release(self, worker_run_id: int) -> int:
        """Put this worker's claims back (it is stopping); returns how many."""
        with self.store.session() as s:
            res = s.execute(
                update(WorkItem)
                .where(WorkItem.worker_run_id == worker_run_id, WorkItem.status == "claimed")
                .values(status="pending", worker_run_id=None)
                .execution_options(synchronize_session=False)
            )
            return int(res.rowcount)  # type: ignore[attr-defined]

    def open_items(self, ids: list[int]) -> int:
        """How many of these items are still pending or claimed."""
        with self.store.session() as s:
            q = select(func.count()).where(WorkItem.id.in_(ids), WorkItem.status.in_(OPEN))
            return int(s.scalar(q) or 0)

    def failed_keys(self, ids: list[int]) -> set[str]:
        with self.store.session() as s:
            rows = s.scalars(select(WorkItem.failed_keys).where(WorkItem.id.in_(ids))).all()
        return {k for keys in rows for k in keys or []}

    def any_items(self) -> bool:
        """Whether the run has enqueued anything yet."""
        with self.store.session() as s:
            return bool(s.scalar(select(func.count()).where(WorkItem.run_id == self.run_id)))

    def any_open(self) -> bool:
        with self.store.session() as s:
            q = select(func.count()).where(WorkItem.run_id == self.run_id, WorkItem.status.in_(OPEN))
            return bool(s.scalar(q))

    def run_alive(self) -> bool:
        """Whether the shared run is still running in a live process (workers stop when it is not)."""
        with self.store.session() as s:
            run = s.get(Run, self.run_id)
            return run is not None and lease.is_alive(run)

    def _reclaim(self, s: Any) -> None:
        claimed = s.execute(
            select(WorkItem.id, WorkItem.worker_run_id).where(
                WorkItem.run_id == self.run_id, WorkItem.status == "claimed"
            )
        ).all()
        if not claimed:
            return
        workers = {w for _, w in claimed if w is not None}
        runs = {r.id: r for r in s.scalars(select(Run).where(Run.id.in_(workers)))}
        now = utcnow()
        gone = [w for w in workers if w not in runs or not lease.is_alive(runs[w], now)]
        dead = [i for i, w in claimed if w in gone]
        if dead:  # still held by the dead worker: another process may have taken it back meanwhile
            s.execute(
                update(WorkItem)
                .where(WorkItem.id.in_(dead), WorkItem.status == "claimed", WorkItem.worker_run_id.in_(gone))
                .values(status="pending", worker_run_id=None)
                .execution_options(synchronize_session=False)
            )


def spawn_workers(url: str, run_id: int, n: int, env: dict[str, str] | None = None) -> list[Any]:
    """Start ``n`` local ``datagen worker --run RUN_ID`` processes on the database at ``url`` (the real URL, passed
    through the environment, never argv); ``env`` adds to their environment."""
    import os
    import subprocess
    import sys

    full = {**os.environ, "DATAGEN_DB": url, "DATAGEN_PROGRESS": "0", **(env or {})}
    cmd = [sys.executable, "-m", "datagen", "worker", "--run", str(run_id)]
    return [
        subprocess.Popen(cmd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(n)
    ]
