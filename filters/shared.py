"""Filter runs shared by workers: ``datagen filter --workers N`` (N-1 ``datagen worker --run ID`` started here),
``--share-work`` (workers elsewhere on the same database), ``datagen worker --run ID`` (the worker's side).

A run has two parts. The shared part: the selected records are cut into batches of ``batch_size`` ids, one work
item each (``datagen.providers.workqueue``). Every process (this one, its local workers, any ``datagen worker
--run ID`` on another machine) claims an item with ``SELECT ... FOR UPDATE SKIP LOCKED`` (SQLite: one writer at
a time) and runs the filters that judge each record alone over it (``Chain`` part ``shared``: heuristics, length,
toxicity, perplexity, adherence), writing their verdicts under the shared run and no status. The final part, in
this process once every item is done: the same batches, in id order, through the whole chain (part ``final``):
the shared part's verdicts are reused (and counted as this run's), the filters that judge a record against the
corpus run here, serialized, and the statuses are set.

Why dedup is serialized: whether a record is a near-duplicate depends on which earlier records were kept (in id
order, after every other filter). Two workers deduplicating at once could each keep one of two near-duplicates
(neither sees the other as kept). In the final part it runs exactly as in a single process, so the run keeps the
same records with the same verdicts as ``datagen filter`` without workers; it is the cheap part (embedding and a
faiss search), the models' scoring is what is shared.

A claim holds while the claiming worker's run lease lives (its heartbeat, ``datagen.store.lease``). A worker
stopped by Ctrl-C / SIGTERM writes the verdicts it computed and hands its claim back; one killed with SIGKILL
loses it to the next claim once its lease lapses (at once on the same host), and the batch is judged again: the
verdicts already written are reused, so nothing is lost or judged twice. Workers stop when every item is done,
or when the run's own process has ended (Ctrl-C there stops them too).

The run's summary counts every verdict of the run as its own (``scored``), wherever it was made; its
``ms_per_record`` times only what the run's own process scored in the final part (dedup), else None.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from datagen.providers.shared import KEY_ENV
from datagen.providers.workqueue import Claimed, WorkQueue, spawn_workers
from datagen.stage import StageResult
from datagen.store.engine import Store
from datagen.store.runs import tracked_run
from filters.base import RecordView
from filters.chain import Chain
from filters.config import FilterConfig
from filters.selection import iter_batches, load_views

POLL_S = 0.1
KIND = "filter"  # the work items' endpoint kind


class SharedRun:
    """The run's own process: ``prepare`` and ``batches`` as ``run_filters`` drives an executor."""

    def __init__(self, chain: Chain) -> None:
        chain.part = "final"
        self.final = chain
        self.store, self.cfg, self.run_id = chain.store, chain.cfg, chain.run_id
        assert self.run_id is not None
        self.shared = Chain(self.store, self.cfg, self.run_id, "shared")
        self.spawned: list[Any] = []

    def prepare(self) -> list[str]:
        """Enqueue the batches and start the local workers first (they load their models meanwhile), then load
        the shared part's filters here (this process works on items too) and the final part's corpora."""
        assert self.run_id is not None
        self.queue = WorkQueue(self.store, self.run_id)
        self.ids = [[r.id for r in b] for b in iter_batches(self.store, self.cfg)]
        config, keys = without_keys(self.cfg.model_dump(mode="json"))
        endpoint = {"kind": KIND, "config": config, "keys_at": [path for path, _ in keys]}
        self.items = self.queue.enqueue_ids(endpoint, self.ids)
        if self.cfg.workers > 1:  # an API judge's key travels in the environment, never in the database
            env = {KEY_ENV: keys[0][1]} if keys else {}
            self.spawned = spawn_workers(self.store.url, self.run_id, self.cfg.workers - 1, env)
        notices = self.shared.prepare()
        return notices + self.final.prepare(skip=[f.name for f in self.shared.filters])

    def batches(self) -> Iterator[list[RecordView]]:
        """Run the shared part to its end, then hand the batches to the final part, in id order."""
        assert self.run_id is not None
        queue = self.queue
        work(queue, self.run_id, lambda _item: self.shared, lambda: queue.open_items(self.items) == 0)
        for ids in self.ids:
            yield load_views(self.store, ids)


def work(
    queue: WorkQueue,
    me: int,
    chain_for: Callable[[Claimed], Chain],
    done: Callable[[], bool],
    run: Any = None,
) -> None:
    """Claim items as ``me`` and judge their records until ``done()``; on any exit, hand the claims back."""
    try:
        while not done():
            item = queue.claim(me)
            if item is None:
                time.sleep(POLL_S)
                continue
            chain = chain_for(item)
            views = load_views(chain.store, [int(k) for k in item.keys])
            chain.process(views)
            queue.finish(item.id, [])
            if run is not None:
                run.count("items", 1)
                run.count("records", len(views))
                run.save_counters()
    except BaseException:
        queue.release(me)
        raise


def without_keys(data: Any, path: tuple[str, ...] = ()) -> tuple[Any, list[tuple[list[str], str]]]:
    """``data`` without its ``api_key`` values, and where each was (path, key): a config to store."""
    if not isinstance(data, dict):
        return data, []
    out, keys = {}, []
    for k, v in data.items():
        if k == "api_key":
            keys += [(list(path), v)] if v else []
            continue
        out[k], found = without_keys(v, (*path, k))
        keys += found
    return out, keys


def with_key(config: dict[str, Any], paths: list[list[str]], key: str | None) -> dict[str, Any]:
    """The stored config with the worker's API key put back where the run had one."""
    for path in paths if key else []:
        node = config
        for k in path:
            node = node[k]
        node["api_key"] = key
    return config


def run_filter_worker(store: Store, run_id: int, api_key: str | None = None) -> StageResult:
    """``datagen worker --run ID`` for a filter run: its shared part, until every item is done. ``api_key``
    (default: ``DATAGEN_WORKER_API_KEY``, else the provider's own variable) is an API judge's key."""
    queue = WorkQueue(store, run_id)
    chains: list[Chain] = []
    key = api_key or os.environ.get(KEY_ENV)

    def chain_for(item: Claimed) -> Chain:
        if not chains:  # the run's config, as its process enqueued it
            config = with_key(item.endpoint["config"], item.endpoint.get("keys_at", []), key)
            chains.append(Chain(store, FilterConfig(**config), run_id, "shared"))
            chains[0].prepare()
        return chains[0]

    def done() -> bool:  # the run is gone (interrupted: stop too), or it enqueued and nothing is left
        return not queue.run_alive() or (queue.any_items() and not queue.any_open())  # in this order

    with tracked_run(store, "worker", {"run": run_id}, run_id) as me:
        work(queue, me.id, chain_for, done, me)
    return StageResult(me.id, {"run_id": me.id, "shared_run": run_id, **me.counters})
