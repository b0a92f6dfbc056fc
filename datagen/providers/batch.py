"""Requests through a provider's batch API (OpenAI Batch, Anthropic Message Batches): half price, answered
within a day. Used by the executor when ``exec.batch_api`` is set.

The requests the cache cannot answer are submitted in batches of at most ``batch_max_requests`` (each request's
``custom_id`` is its cache key). A batch is recorded in ``remote_batches`` the moment the provider accepts it, so a
run killed while waiting (hours, possibly) resumes waiting for the same batch when rerun: nothing is submitted or
paid twice. Every ``batch_poll_s`` seconds the open batches are checked; an ended batch's answers go to the cache
at the batch price (list price x ``batch_discount``), with their payments, and are counted on the run that
collects them. Requests the
batch could not answer (errored, expired, cancelled) are left to the direct path, with its retries. A batch that
failed as a whole (OpenAI ``failed``: nothing in it ran) or that the provider no longer knows (a 404) stops the
run with the reason and is marked ``failed``/``lost``, so that a rerun submits its requests again.

Budget: before a batch is submitted, its worst case at the batch price is added to what was spent and to the
worst case of the batches still open in this call (resumed ones included); a batch that would pass ``max_usd`` is
not submitted.

Known limits: a submission that times out after the provider accepted it is not recorded, so a rerun submits it
again; uploaded OpenAI input files are left in the account's file storage.
"""

from __future__ import annotations

from collections.abc import Callable
from time import sleep
from typing import Any, Protocol

from sqlalchemy import select

from datagen.errors import BudgetExceeded, DatagenError
from datagen.providers.base import BatchProvider, Chunk, Provider, ProviderError, Request, Result
from datagen.providers.cache import CompletionCache
from datagen.providers.pricing import cost_usd
from datagen.store.models import RemoteBatch, utcnow
from datagen.store.runs import RunHandle


class BatchLimits(Protocol):
    """The ``exec`` settings the batch path reads (``ExecConfig`` has them)."""

    @property
    def batch_max_requests(self) -> int: ...
    @property
    def batch_poll_s(self) -> float: ...
    @property
    def max_usd(self) -> float | None: ...


class BatchHost(Protocol):
    """What the batch path uses of the executor that drives it (``Executor`` is one): its provider, cache and
    settings, and its ledger (spend, tokens, run counters). Typed here so that this module needs nothing from
    ``executor.py``, which imports it."""

    provider: Provider
    cache: CompletionCache
    run_handle: RunHandle | None
    price: tuple[float, float] | None
    spent_usd: float
    tokens: int

    @property
    def cfg(self) -> BatchLimits: ...
    def worst_cost(self, request: Request) -> float: ...
    def count(self, key: str, n: float) -> None: ...
    def save_counters(self) -> None: ...


class BatchRunner:
    """Sends one executor call's uncached requests through the provider's batch API (module docstring)."""

    def __init__(self, ex: BatchHost) -> None:
        assert isinstance(ex.provider, BatchProvider)
        self.ex = ex
        self.provider: BatchProvider = ex.provider
        self.store = ex.cache.store
        self._reserved = 0.0  # worst case of the batches this call submitted or resumed

    def run(self, todo: Chunk, delivered: Callable[[dict[str, Result]], None]) -> None:
        """Submit what no open batch holds yet, wait, and hand each ended batch's answers (by cache key) to
        ``delivered``; what no batch answered is left for the direct path."""
        wanted = {key for key, _ in todo}
        requests = dict(todo)
        waiting = self._open_batches(wanted)
        covered = {k for _, keys in waiting.values() for k in keys}
        fresh = [(key, r) for key, r in todo if key not in covered]
        # Batches resumed from an earlier run will be paid when collected: their worst case counts first.
        self._reserved = self.provider.batch_discount * sum(
            self.ex.worst_cost(requests[k]) for k in covered if k in requests
        )
        size = self.ex.cfg.batch_max_requests
        for chunk in (fresh[i : i + size] for i in range(0, len(fresh), size)):
            self._check_budget(chunk, waiting)
            remote_id = self.provider.batch_submit(chunk)
            with self.store.session() as s:
                row = RemoteBatch(
                    provider=self.ex.cache.provider,
                    model=self.ex.cache.model,
                    remote_id=remote_id,
                    keys=[key for key, _ in chunk],
                    run_id=self.ex.run_handle.id if self.ex.run_handle else None,
                )
                s.add(row)
                s.flush()
                waiting[row.id] = (remote_id, [key for key, _ in chunk])
            self.ex.count("batch_submitted", len(chunk))
        while waiting:
            for row_id, (remote_id, keys) in list(waiting.items()):
                try:
                    state = self.provider.batch_state(remote_id)
                    if not state.ended:
                        continue
                    if state.error is not None:  # failed as a whole: nothing in it was run or paid
                        self._close(row_id, "failed", {"error": state.error})
                        raise DatagenError(
                            f"batch {remote_id} failed: {state.error}. Nothing in it was run or paid; rerun to "
                            "submit its requests again (or run without the batch API)"
                        )
                    got = self._collect(row_id, remote_id, keys, requests)
                except ProviderError as e:
                    if e.retryable:
                        continue  # ask again at the next poll
                    self._close(row_id, "lost", {"error": str(e)})
                    raise DatagenError(
                        f"batch {remote_id} can no longer be read ({e}); it is marked lost, and a rerun sends its "
                        "requests again"
                    ) from e
                delivered(got)
                del waiting[row_id]
            if waiting:
                self.ex.save_counters()
                sleep(self.ex.cfg.batch_poll_s)

    def _close(self, row_id: int, status: str, counts: dict[str, Any]) -> None:
        with self.store.session() as s:
            row = s.get(RemoteBatch, row_id)
            assert row is not None
            row.status, row.collected_at, row.counts = status, utcnow(), counts

    def _open_batches(self, wanted: set[str]) -> dict[int, tuple[str, list[str]]]:
        """Batches submitted earlier (by this or a killed run) and not yet collected that hold any wanted key."""
        with self.store.session() as s:
            rows = s.scalars(
                select(RemoteBatch).where(
                    RemoteBatch.provider == self.ex.cache.provider,
                    RemoteBatch.model == self.ex.cache.model,
                    RemoteBatch.status == "submitted",
                )
            ).all()
            return {r.id: (r.remote_id, list(r.keys)) for r in rows if wanted.intersection(r.keys)}

    def _check_budget(self, chunk: Chunk, waiting: dict[int, tuple[str, list[str]]]) -> None:
        cap = self.ex.cfg.max_usd
        if cap is None:
            return
        worst = sum(self.ex.worst_cost(r) for _, r in chunk) * self.provider.batch_discount
        if self.ex.spent_usd + self._reserved + worst > cap:
            raise BudgetExceeded(
                f"budget cap ${cap:.4f}: a batch of {len(chunk)} request(s) could cost up to ${worst:.4f} at the "
                f"batch price, on top of ${self.ex.spent_usd + self._reserved:.4f} spent or reserved; not submitted"
                + (
                    f" ({len(waiting)} batch(es) already submitted are kept: rerun to collect them)"
                    if waiting
                    else ""
                )
            )
        self._reserved += worst

    def _collect(
        self, row_id: int, remote_id: str, keys: list[str], requests: dict[str, Request]
    ) -> dict[str, Result]:
        """Fetch an ended batch's answers, cache the successes at the batch price, mark the batch collected."""
        settled = self.provider.batch_results(remote_id)
        price = self.ex.price
        ok: dict[str, Result] = {}
        for key in keys:
            res = settled.get(key)
            if isinstance(res, Result):
                res.cost_usd = (
                    0.0
                    if price is None
                    else cost_usd(price, res.prompt_tokens, res.completion_tokens)
                    * self.provider.batch_discount
                )
                ok[key] = res
        failed = len(keys) - len(ok)
        outs = list(ok.values())
        for name, n in (
            ("requests", len(outs)),
            ("prompt_tokens", sum(r.prompt_tokens for r in outs)),
            ("completion_tokens", sum(r.completion_tokens for r in outs)),
            ("cost_usd", sum(r.cost_usd for r in outs)),
            ("batch_failed", failed),
        ):
            self.ex.count(name, n)
        handle = self.ex.run_handle
        # The answers, their payments and the run's counters in one transaction; the cache's answer is used.
        won = self.ex.cache.put(
            [(key, requests.get(key), res) for key, res in ok.items()],
            run_id=handle.id if handle is not None else None,
            also=handle.write_counters if handle is not None else None,
        )
        self._close(row_id, "collected", {"succeeded": len(ok), "failed": failed})
        self.ex.spent_usd += sum(r.cost_usd for r in outs)
        self.ex.tokens += sum(r.prompt_tokens + r.completion_tokens for r in outs)
        return won
