"""The one execution layer every provider runs under: cache, concurrency, retries, rate limits, budget.

``Executor.run(requests)`` returns one ``Result`` per request, in order, cut at its stop strings
(``Provider.emulate``: what the API could not be sent). Cached requests replay at no cost;
identical requests in one call are sent once. The rest go to the provider in chunks of ``provider.max_batch``
with up to ``concurrency`` chunks in flight (capped by ``provider.max_concurrency``). Connection errors,
timeouts, 408/409/429/5xx and malformed responses are retried with exponential backoff and jitter, waiting at
least what retry-after asked (and a 429 pauses every worker). Requests and tokens per minute are paced by
``RateLimiter``. Each success is written to the cache at once, in its own short transaction, by the calling
thread (the only thread that touches the database), with its ``payments`` row and the run's counters, so a
kill -9 loses only the requests in flight and the ledger stays exact. When another process cached the same
request first, its answer is the one returned (``CompletionCache.put``).

Failure isolation: a request that fails after ``max_retries`` (or with a bad-request error) is written to
``request_failures`` with its reason and counted (``failed_requests``); the other requests go on. ``run`` then
raises ``RequestsFailed`` once everything else is written, ``run_partial`` returns None in its place. A rerun
sends only what the cache lacks, so it retries exactly the failures. Errors that every request would meet
(401/403/404: key, permission, model) and ``max_failures_in_a_row`` failures in a row stop the call at once.

Ctrl-C / SIGTERM: answers already received, and those arriving within ``GRACE_S``, are written (signals are
held back while a write runs); calls still in flight are abandoned on daemon threads, so the process exits at
once instead of waiting for them.

With ``executor: ray`` (a local model) each call runs on one of the Ray actors holding the model
(``ray_models.py``), one call in flight per actor; the cache, retries and writes stay in this process.

With ``batch_api`` the requests the cache lacks go through the provider's batch API first (``batch.py``); what no
batch answered then takes the direct path below.

Budget: before a chunk is sent, its worst-case cost (estimated prompt tokens + ``max_tokens`` of output) is
added to what was spent and to the worst case of what is in flight; if that would pass ``max_usd`` nothing
more is sent, the in-flight requests finish (and are cached), and ``BudgetExceeded`` is raised. The real
spend therefore never passes the cap.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import replace
from typing import Any

from datagen.errors import BudgetExceeded, DatagenError, InputError, RequestsFailed
from datagen.interrupts import signals_deferred
from datagen.progress import note, requests_meter
from datagen.providers.base import BatchProvider, Chunk, Provider, ProviderError, Request, Result
from datagen.providers.batch import BatchRunner
from datagen.providers.cache import CompletionCache
from datagen.providers.exec_config import ExecConfig
from datagen.providers.pricing import cost_usd, endpoint_price, usd
from datagen.providers.ratelimit import RateLimiter
from datagen.providers.ray_models import RayModels
from datagen.providers.retry import RetryingCaller, estimate_prompt_tokens
from datagen.providers.workers import DaemonPool
from datagen.store.engine import Store
from datagen.store.runs import RunHandle

# The counters an executor keeps on its run (summed over every call). failed_requests: failed after their
# retries (in request_failures); paid_duplicates: paid for while another process cached the same request first.
COUNTERS: tuple[str, ...] = ("requests", "cache_hits", "retries", "prompt_tokens", "completion_tokens")
COUNTERS += ("cost_usd", "failed_requests", "paid_duplicates")
GRACE_S = 0.5  # after Ctrl-C / SIGTERM: how long answers still arriving are waited for (then written)
FATAL_STATUS = frozenset({401, 403, 404})  # every request would fail the same way: stop at once


class Executor:
    """Runs requests for one provider against the cache; see the module docstring."""

    def __init__(self, store: Store, provider: Provider, cfg: ExecConfig, run: RunHandle | None = None):
        self.provider = provider
        self.cfg = cfg
        self.run_handle = run
        self.cache = CompletionCache(store, provider.name, provider.cache_model())
        provider.timeout_s = cfg.timeout_s
        if cfg.batch_api and not isinstance(provider, BatchProvider):
            raise InputError(
                f"provider {provider.name!r} has no batch API (batch_api works with openai, anthropic)"
            )
        self.price = endpoint_price(provider.model, provider.free, cfg.prices, cfg.max_usd)
        self._cancel = threading.Event()  # set when the calling thread is interrupted: workers stop retrying
        provider.cancelled = self._cancel  # a local model stops generating when it is set
        self.limiter = RateLimiter(cfg.rpm, cfg.tpm, cancelled=self._cancel)
        self.remote = RayModels(provider, cfg) if cfg.executor == "ray" else None  # one chunk per actor
        self.caller = RetryingCaller(
            provider,
            self.limiter,
            self._cancel,
            max_retries=cfg.max_retries,
            backoff_s=cfg.backoff_s,
            backoff_max_s=cfg.backoff_max_s,
            seed=cfg.seed,
            complete=self.remote.complete if self.remote else None,
        )
        self.workers = (
            self.remote.size
            if self.remote
            else min(cfg.concurrency, provider.max_concurrency or cfg.concurrency)
        )
        self.spent_usd = 0.0  # new requests of this executor (replays are free)
        self.tokens = 0
        self._retries_saved = 0
        self._in_a_row = 0  # requests failed since the last success
        self.last_failure = ""
        self._shared: Any = None  # SharedCalls, made at the first call of a shared run

    # -- public ---------------------------------------------------------------------------------------

    def run(self, requests: list[Request], progress: bool = True, batch: bool = True) -> list[Result]:
        """One result per request, in order; raises BudgetExceeded, RequestsFailed or DatagenError after caching
        what finished. With ``exec.batch_api`` (and ``batch``) what the cache lacks goes through the batch API
        first."""
        results = self.run_partial(requests, progress, batch)
        failed = sum(r is None for r in results)
        if failed:
            raise RequestsFailed(
                f"{failed} of {len(requests)} request(s) failed after their retries (see request_failures; "
                f"last: {self.last_failure}); every other answer is cached: rerun to retry only the failed ones",
                failed,
            )
        return [r for r in results if r is not None]

    def run_partial(
        self, requests: list[Request], progress: bool = True, batch: bool = True
    ) -> list[Result | None]:
        """As ``run``, with None for each request that failed after its retries (recorded, counted). With
        ``exec.workers`` > 1 (or ``share_work``) the requests are shared with the run's workers (``shared.py``)."""
        if (self.cfg.workers > 1 or self.cfg.share_work) and self.run_handle is not None:
            from datagen.providers.shared import SharedCalls

            if self._shared is None:
                self._shared = SharedCalls(self)
            shared = self._shared.run(requests)
            requests_meter(len(requests), progress).advance(len(requests))  # workers' answers come unseen
            return shared
        return self.run_here(requests, progress, batch)

    def run_here(
        self, requests: list[Request], progress: bool = False, batch: bool = True
    ) -> list[Result | None]:
        """``run_partial`` in this process only (what a worker does with the items it claims)."""
        for name in COUNTERS:
            self.count(name, 0)
        keys = [self.cache.key(r) for r in requests]
        results: list[Result | None] = [None] * len(requests)
        hits = self.cache.get_many(keys)
        pending: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            if key in hits:
                results[i] = replace(hits[key])
            else:
                pending.setdefault(key, []).append(i)
        n_hits = len(requests) - sum(len(v) for v in pending.values())
        self.count("cache_hits", n_hits)
        todo: Chunk = [(key, requests[idx[0]]) for key, idx in pending.items()]
        size = max(1, self.provider.max_batch)
        if size > 1:  # similar lengths batched together: less padding, same results (per-request seeds)
            todo.sort(key=lambda kr: (kr[1].params.max_tokens, sum(len(c) for _, c in kr[1].messages)))
        chunks = [todo[i : i + size] for i in range(0, len(todo), size)]

        b = requests_meter(len(requests), progress)  # answers, replays and failures all count
        b.advance(n_hits)
        if todo and batch and self.cfg.batch_api:

            def delivered(answers: dict[str, Result]) -> None:
                for key, out in answers.items():
                    if key in pending:
                        indices = pending.pop(key)
                        self._deliver(indices, out, results)
                        b.advance(len(indices))
                self.show_spend()

            BatchRunner(self).run(todo, delivered)
            left = [[kr for kr in c if kr[0] in pending] for c in chunks]
            chunks = [c for c in left if c]  # what no batch answered goes direct
        self._dispatch(chunks, pending, results, b)
        self.save_counters()
        # Stop strings the provider could not send are cut here (the cache keeps the reply as it came).
        return [
            None if r is None else self.provider.emulate(q, r) for q, r in zip(requests, results, strict=True)
        ]

    def show_spend(self) -> None:
        """The run's tokens and cost so far, shown beside the counts."""
        c = self.run_handle.counters if self.run_handle is not None else {}
        note(
            tokens=c.get("prompt_tokens", 0) + c.get("completion_tokens", 0), cost_usd=c.get("cost_usd", 0.0)
        )

    # -- dispatch (calling thread: the only one that writes) -------------------------------------------

    def _dispatch(
        self, chunks: list[Chunk], pending: dict[str, list[int]], results: list[Result | None], b: Any
    ) -> None:
        in_flight: dict[Future[list[Result]], tuple[Chunk, float]] = {}
        received: list[tuple[Chunk, list[Result]]] = []  # answers not yet written
        reserved = 0.0
        nxt = 0
        budget_stop: float | None = None
        committed = 0.0  # spent + reserved for calls in flight when the budget stopped the run
        fatal: BaseException | None = None
        self._cancel.clear()
        self._in_a_row = 0
        pool = DaemonPool(self.workers)
        try:
            while True:
                while (
                    budget_stop is None
                    and fatal is None
                    and nxt < len(chunks)
                    and len(in_flight) < self.workers
                ):
                    est = sum(self.worst_cost(r) for _, r in chunks[nxt])
                    if self.cfg.max_usd is not None and self.spent_usd + reserved + est > self.cfg.max_usd:
                        budget_stop, committed = est, self.spent_usd + reserved
                        break
                    reserved += est
                    in_flight[pool.submit(self.caller.call, [r for _, r in chunks[nxt]])] = (chunks[nxt], est)
                    nxt += 1
                if not in_flight:
                    break
                done, _ = wait(in_flight, timeout=1.0, return_when=FIRST_COMPLETED)
                for fut in done:
                    chunk, est = in_flight.pop(fut)
                    reserved -= est
                    fatal = self._settle(fut, chunk, received) or fatal
                    if fut.exception() is not None:  # failed (recorded), so done all the same
                        b.advance(sum(len(pending[key]) for key, _ in chunk))
                with signals_deferred():
                    self._write(received, pending, results, b)
                    self._sync_retries()
        except BaseException:
            # Ctrl-C, SIGTERM or a failed write: workers stop retrying; answers that arrive within GRACE_S join
            # those received, all are written; the calls still in flight are abandoned (daemon threads).
            with signals_deferred():
                self._cancel.set()
                if in_flight:
                    wait(in_flight, timeout=GRACE_S)
                for fut in [f for f in in_flight if f.done() and not f.cancelled() and f.exception() is None]:
                    received.append((in_flight.pop(fut)[0], fut.result()))
                pool.shutdown(wait=False)
                self._sync_retries()
                self._write(received, pending, results, b)
                self.save_counters()
            raise
        pool.shutdown(wait=True)
        self._sync_retries()
        self.save_counters()
        if fatal is not None:
            if isinstance(fatal, DatagenError):
                raise fatal
            raise DatagenError(f"{type(fatal).__name__}: {fatal}") from fatal
        if budget_stop is not None:
            left = sum(len(c) for c in chunks[nxt:])
            raise BudgetExceeded(
                f"budget cap {usd(self.cfg.max_usd or 0.0)} reached: {usd(committed)} spent or reserved for calls in "
                f"flight, and the next call could cost up to {usd(budget_stop)}; {left} request(s) not sent "
                f"(spent in the end: {usd(self.spent_usd)}). What finished is cached: rerun with a higher max_usd "
                "to continue without paying twice."
            )

    def _settle(
        self, fut: Future[list[Result]], chunk: Chunk, received: list[tuple[Chunk, list[Result]]]
    ) -> BaseException | None:
        """A finished call: its answers join ``received``; a failure is recorded (the others go on), unless every
        request would fail the same way or too many failed in a row: then it is returned, to stop the call."""
        try:
            received.append((chunk, fut.result()))
            self._in_a_row = 0
            return None
        except BaseException as e:
            status = e.status if isinstance(e, ProviderError) else None
            if (
                not isinstance(e, ProviderError)
                or status in FATAL_STATUS
                or (not e.retryable and status is None)
            ):
                return e
            self.last_failure = str(e)
            with signals_deferred():
                self.count("failed_requests", len(chunk))
                also = self.run_handle.write_counters if self.run_handle is not None else None
                self.cache.record_failures(
                    [(key, req, str(e), status) for key, req in chunk], self.run_id, also=also
                )
            self._in_a_row += len(chunk)
            if self._in_a_row >= self.cfg.max_failures_in_a_row:
                return DatagenError(
                    f"{self._in_a_row} requests in a row failed after their retries: {self.provider.label} looks "
                    f"unavailable, so nothing more is sent (last: {e}). What finished is cached: rerun later."
                )
            return None

    def _write(
        self,
        received: list[tuple[Chunk, list[Result]]],
        pending: dict[str, list[int]],
        results: list[Result | None],
        b: Any,
    ) -> None:
        """Write each received answer to the cache with its payment and the run's counters (one transaction per
        call), then hand every position the cached answer (another process's, if it stored first)."""
        while received:
            chunk, outs = received[0]
            for out in outs:
                out.cost_usd = (
                    0.0
                    if self.provider.free
                    else cost_usd(self.price, out.prompt_tokens, out.completion_tokens)
                )
                out.cached = False
            delta: dict[str, float] = {
                "requests": len(outs),
                "prompt_tokens": sum(o.prompt_tokens for o in outs),
                "completion_tokens": sum(o.completion_tokens for o in outs),
                "cost_usd": sum(o.cost_usd for o in outs),
            }
            for name, n in delta.items():
                self.count(name, n)
            answers = [(key, req, out) for (key, req), out in zip(chunk, outs, strict=True)]
            try:
                also = self.run_handle.write_counters if self.run_handle is not None else None
                won = self.cache.put(answers, run_id=self.run_id, also=also)
            except BaseException:
                for name, n in delta.items():
                    self.count(name, -n)
                raise
            received.pop(0)
            self.spent_usd += delta["cost_usd"]
            self.tokens += int(delta["prompt_tokens"] + delta["completion_tokens"])
            lost = [key for key, _ in chunk if won[key].cached]
            if lost:  # paid, but another process stored its answer first: theirs is the answer
                self.count("paid_duplicates", len(lost))
            for key, _ in chunk:
                self._deliver(pending[key], won[key], results)
                b.advance(len(pending[key]))
            self.show_spend()

    # -- bookkeeping ---------------------------------------------------------------------------------------

    def _deliver(self, indices: list[int], out: Result, results: list[Result | None]) -> None:
        """One answer to every position that asked for it: the same request twice in one call is sent once,
        and the copies are replays (paid once; each still says what the response cost)."""
        first, *rest = indices
        results[first] = out
        for i in rest:
            results[i] = replace(out, cached=True)
        self.count("cache_hits", len(rest))

    def close(self) -> None:
        """Stop what the executor started (``executor: ray``: its actors and the local Ray instance)."""
        if self.remote is not None:
            self.remote.close()

    @property
    def run_id(self) -> int | None:
        return self.run_handle.id if self.run_handle is not None else None

    def worst_cost(self, request: Request) -> float:
        if self.provider.free:
            return 0.0
        return cost_usd(self.price, estimate_prompt_tokens(request), request.params.max_tokens)

    def count(self, key: str, n: float) -> None:
        if self.run_handle is not None:
            self.run_handle.count(key, n)

    def _sync_retries(self) -> None:
        total = self.caller.retries
        delta, self._retries_saved = total - self._retries_saved, total
        self.count("retries", delta)

    def save_counters(self) -> None:
        if self.run_handle is not None:
            self.run_handle.save_counters()
