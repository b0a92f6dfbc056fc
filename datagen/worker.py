"""``datagen worker --run ID``: the worker's side of a shared run (``datagen.providers.shared``,
``datagen.providers.workqueue``).

Claim an item, run it through an executor built from the item's endpoint (with this worker's API key: the key
is never stored) under the worker's own run (kind ``worker``, parent the shared run: its payments and counters),
mark it done; until the shared run has ended and nothing is left. On Ctrl-C/SIGTERM its claims go back to the
queue; killed with SIGKILL, they are taken back once its lease lapses.
"""

from __future__ import annotations

import os
import time

from datagen.errors import InputError
from datagen.providers.shared import KEY_ENV, POLL_S
from datagen.providers.workqueue import WorkQueue
from datagen.stage import StageResult
from datagen.store.engine import Store
from datagen.store.models import Run
from datagen.store.runs import tracked_run


def run_worker(store: Store, run_id: int, api_key: str | None = None) -> StageResult:
    """Work on run ``run_id``'s items until it has ended and none is left (see the module docstring)."""
    from datagen.endpoint import ModelEndpoint
    from datagen.providers.exec_config import ExecConfig
    from datagen.providers.executor import Executor
    from datagen.providers.registry import make_provider

    with store.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise InputError(f"run {run_id} does not exist (see `datagen runs`)")
        kind = run.kind
    if kind == "filter":
        from filters.shared import run_filter_worker

        return run_filter_worker(store, run_id, api_key)
    queue = WorkQueue(store, run_id)
    key = api_key or os.environ.get(KEY_ENV)
    executors: dict[str, Executor] = {}
    with tracked_run(store, "worker", {"run": run_id}, run_id) as me:
        try:
            while True:
                item = queue.claim(me.id)
                if item is None:
                    if not queue.run_alive() and not queue.any_open():
                        break
                    time.sleep(POLL_S)
                    continue
                name = repr(sorted(item.endpoint.items()))
                if name not in executors:
                    spec = {k: v for k, v in item.endpoint.items() if k != "exec"}
                    provider = make_provider(ModelEndpoint(**spec, api_key=key))
                    executors[name] = Executor(store, provider, ExecConfig(**item.endpoint["exec"]), me)
                results = executors[name].run_here(item.requests)
                queue.finish(item.id, [k for k, r in zip(item.keys, results, strict=True) if r is None])
                me.count("items", 1)
        except BaseException:
            queue.release(me.id)
            raise
    return StageResult(me.id, {"run_id": me.id, "shared_run": run_id, **me.counters})
