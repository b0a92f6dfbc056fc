"""Sharing a run's requests with workers (``exec.workers`` > 1, or ``exec.share_work``; the queue itself is
``datagen.providers.workqueue``).

``SharedCalls.run`` replaces the executor's own dispatch for one call: what the cache lacks is cut into items of
the executor's concurrency, enqueued, and worked on here like any worker would, while the ``workers - 1``
local worker processes started for the run (and any ``datagen worker --run ID`` elsewhere) claim the others. It
returns when every item is done or failed; the answers come back through the cache (each written, with its
payment, by whichever process was paid for it). ``rpm`` and ``tpm`` are split evenly among the ``workers``
processes (a worker that joins from elsewhere paces itself to the same share: count it in ``workers``).

The worker's side is ``datagen.worker.run_worker``.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any, Protocol

from datagen.providers.base import Provider, Request, Result
from datagen.providers.cache import CompletionCache
from datagen.providers.exec_config import ExecConfig
from datagen.providers.ratelimit import RateLimiter
from datagen.providers.workqueue import WorkQueue, spawn_workers
from datagen.store.runs import RunHandle


class ShareHost(Protocol):
    """What sharing uses of the executor that drives it (``Executor`` is one; typed here so that this module
    needs nothing from ``executor.py``, which imports it)."""

    provider: Provider
    cache: CompletionCache
    cfg: ExecConfig
    run_handle: RunHandle | None
    limiter: RateLimiter
    workers: int

    def count(self, key: str, n: float) -> None: ...
    def run_here(
        self, requests: list[Request], progress: bool = False, batch: bool = True
    ) -> list[Result | None]: ...


POLL_S = 0.1
KEY_ENV = "DATAGEN_WORKER_API_KEY"  # how a spawned worker gets the API key (never on its command line)


def share_of(ex: ShareHost) -> dict[str, Any]:
    """Each of the ``workers`` processes paces itself to its share of ``rpm`` and ``tpm``."""
    n = max(1, ex.cfg.workers)
    return {"rpm": ex.cfg.rpm / n if ex.cfg.rpm else None, "tpm": ex.cfg.tpm / n if ex.cfg.tpm else None}


def endpoint_of(ex: ShareHost) -> dict[str, Any]:
    """The endpoint a worker rebuilds (no key; a worker never spawns workers of its own)."""
    p = ex.provider
    exec_cfg = ex.cfg.model_copy(update={"workers": 1, "share_work": False, **share_of(ex)})
    spec: dict[str, Any] = {
        "provider": p.name,
        "model": p.model,
        "options": p.options.model_dump(mode="json"),
        "exec": exec_cfg.model_dump(mode="json"),
        "cache_as": p.cache_as,
    }
    for name in ("dtype", "device"):  # a local model's
        if hasattr(p, name):
            spec[name] = getattr(p, name)
    return spec


class SharedCalls:
    """One executor's calls, shared with the run's workers (see the module docstring)."""

    def __init__(self, ex: ShareHost) -> None:
        assert ex.run_handle is not None
        self.ex = ex
        self.queue = WorkQueue(ex.cache.store, ex.run_handle.id)
        self.endpoint = endpoint_of(ex)
        self.spawned: list[subprocess.Popen[bytes]] = []
        ex.limiter.rpm, ex.limiter.tpm = share_of(ex)["rpm"], share_of(ex)["tpm"]

    def run(self, requests: list[Request]) -> list[Result | None]:
        keys = [self.ex.cache.key(r) for r in requests]
        found = self.ex.cache.get_many(keys)
        todo = list({k: r for k, r in zip(keys, requests, strict=True) if k not in found}.items())
        self.ex.count("cache_hits", len(requests) - len(todo))
        failed: set[str] = set()
        if todo:
            size = max(self.ex.provider.max_batch, self.ex.workers)
            ids = self.queue.enqueue(self.endpoint, [todo[i : i + size] for i in range(0, len(todo), size)])
            self._start_workers()
            self._work_until_done(ids)
            failed = self.queue.failed_keys(ids)
            found.update(self.ex.cache.get_many([k for k, _ in todo]))
        return [
            None if k in failed or k not in found else self.ex.provider.emulate(r, found[k])
            for k, r in zip(keys, requests, strict=True)
        ]

    def _work_until_done(self, ids: list[int]) -> None:
        assert self.ex.run_handle is not None
        me = self.ex.run_handle.id
        try:
            while self.queue.open_items(ids):
                item = self.queue.claim(me)
                if item is None:
                    time.sleep(POLL_S)
                    continue
                results = self.ex.run_here(item.requests)
                self.queue.finish(item.id, [k for k, r in zip(item.keys, results, strict=True) if r is None])
        except BaseException:
            self.queue.release(me)
            raise

    def _start_workers(self) -> None:
        """Start the ``workers - 1`` local worker processes once (they stop when the run ends)."""
        want = self.ex.cfg.workers - 1
        if len(self.spawned) >= want:
            return
        assert self.ex.run_handle is not None
        env = {KEY_ENV: self.ex.provider.api_key} if self.ex.provider.api_key else {}
        store = self.ex.cache.store
        self.spawned += spawn_workers(store.url, self.ex.run_handle.id, want - len(self.spawned), env)
