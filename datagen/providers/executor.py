"""The one execution layer every provider runs under: cache, concurrency, retries, rate limits, budget.

``Executor.run(requests)`` returns one ``Result`` per request, in order, cut at its stop strings
(``Provider.emulate``: what the API could not be sent). Cached requests replay at no cost;
identical requests in one call are sent once. The rest go to the provider in chunks of ``provider.max_batch``
with up to ``concurrency`` chunks in flight (capped by ``provider.max_concurrency``). Connection errors,
timeouts, 408/409/429/5xx and malformed responses are retried with exponential backoff and jitter, waiting at
least what retry-after asked (and a 429 pauses every worker). Requests and tokens per minute are paced by
``RateLimiter``. Each success is written to the cache at once, in its own short transaction, by the calling
thread (the only thread that touches the database), so a kill -9 loses only the requests in flight.

With ``batch_api`` the requests the cache lacks go through the provider's batch API first (``batch.py``); what no
batch answered then takes the direct path below.

Budget: before a chunk is sent, its worst-case cost (estimated prompt tokens + ``max_tokens`` of output) is
added to what was spent and to the worst case of what is in flight; if that would pass ``max_usd`` nothing
more is sent, the in-flight requests finish (and are cached), and ``BudgetExceeded`` is raised. The real
spend therefore never passes the cap.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

from datagen.errors import BudgetExceeded, DatagenError, InputError
from datagen.progress import bar
from datagen.providers.base import BatchProvider, Chunk, Provider, Request, Result
from datagen.providers.batch import BatchRunner
from datagen.providers.cache import CompletionCache
from datagen.providers.exec_config import ExecConfig
from datagen.providers.pricing import cost_usd, price_of, usd
from datagen.providers.ratelimit import RateLimiter
from datagen.providers.retry import RetryingCaller, estimate_prompt_tokens
from datagen.store.engine import Store
from datagen.store.runs import RunHandle

# The counters an executor keeps on its run (summed over every call).
COUNTERS = ("requests", "cache_hits", "retries", "prompt_tokens", "completion_tokens", "cost_usd")


def spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)``, first and last included: the requests an estimate samples."""
    k = min(k, n)
    return sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(k)})


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
        self.price = None if provider.free else price_of(provider.model, cfg.prices)
        if self.price is None and not provider.free:
            hint = (
                f"set exec.prices['{provider.model}'] = [USD per 1M input tokens, USD per 1M output tokens]"
            )
            if cfg.max_usd is not None:
                raise InputError(
                    f"no price known for model {provider.model!r}, so a budget (max_usd) cannot be kept: {hint}"
                )
            warnings.warn(
                f"no price known for model {provider.model!r}: cost is counted as 0 ({hint})", stacklevel=2
            )
        self._cancel = threading.Event()  # set when the calling thread is interrupted: workers stop retrying
        self.limiter = RateLimiter(cfg.rpm, cfg.tpm, cancelled=self._cancel)
        self.caller = RetryingCaller(
            provider,
            self.limiter,
            self._cancel,
            max_retries=cfg.max_retries,
            backoff_s=cfg.backoff_s,
            backoff_max_s=cfg.backoff_max_s,
            seed=cfg.seed,
        )
        self.workers = min(cfg.concurrency, provider.max_concurrency or cfg.concurrency)
        self.spent_usd = 0.0  # new requests of this executor (replays are free)
        self.tokens = 0
        self._retries_saved = 0

    # -- public ---------------------------------------------------------------------------------------

    def run(self, requests: list[Request], progress: bool = True, batch: bool = True) -> list[Result]:
        """One result per request, in order; raises BudgetExceeded or DatagenError after caching what finished.
        With ``exec.batch_api`` (and ``batch``) what the cache lacks goes through the batch API first."""
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

        bar_ctx = (
            bar(
                f"{self.provider.name}:{self.provider.model}",
                len(requests),
                "{task.fields[tokens]} tok {task.fields[cost]}",
            )
            if progress
            else _NoBar()
        )
        with bar_ctx as b:
            b.advance(n_hits, tokens=self.tokens, cost=f"${self.spent_usd:.4f}")
            if todo and batch and self.cfg.batch_api:

                def delivered(answers: dict[str, Result]) -> None:
                    for key, out in answers.items():
                        if key in pending:
                            indices = pending.pop(key)
                            self._deliver(indices, out, results)
                            b.advance(len(indices), tokens=self.tokens, cost=f"${self.spent_usd:.4f}")

                BatchRunner(self).run(todo, delivered)
                left = [[kr for kr in c if kr[0] in pending] for c in chunks]
                chunks = [c for c in left if c]  # what no batch answered goes direct
            self._dispatch(chunks, pending, results, b)
        self.save_counters()
        assert all(r is not None for r in results)
        # Stop strings the provider could not send are cut here (the cache keeps the reply as it came).
        return [self.provider.emulate(q, r) for q, r in zip(requests, results, strict=True) if r is not None]

    def estimate(self, requests: list[Request], sample: int = 3) -> dict[str, Any]:
        """Run a few requests spread over the list (through the cache) and project cost and time of all."""
        picks = spread(len(requests), sample)
        done = self.run([requests[i] for i in picks], progress=False, batch=False) if picks else []
        return self.project(len(requests), done)

    def project(self, n: int, done: list[Result]) -> dict[str, Any]:
        """Cost and time of ``n`` requests, projected from the results ``done`` of a sample of them."""
        if not done:
            return {"requests": 0, "sampled": 0, "est_cost_usd": 0.0, "est_seconds": 0.0}
        pt = sum(r.prompt_tokens for r in done) / len(done)
        ct = sum(r.completion_tokens for r in done) / len(done)
        per_call = sum(r.latency_s for r in done) / len(done)
        calls = math.ceil(n / max(1, self.provider.max_batch))
        seconds = calls * per_call / self.workers
        if self.cfg.rpm:
            seconds = max(seconds, n * 60.0 / self.cfg.rpm)
        if self.cfg.tpm:
            seconds = max(seconds, n * (pt + ct) * 60.0 / self.cfg.tpm)
        per_request = cost_usd(self.price, round(pt), round(ct))
        if self.cfg.batch_api and isinstance(self.provider, BatchProvider):
            per_request *= self.provider.batch_discount
        return {
            "requests": n,
            "sampled": len(done),
            "sample_cached": sum(r.cached for r in done),
            "avg_prompt_tokens": round(pt, 1),
            "avg_completion_tokens": round(ct, 1),
            "price_per_1m_tokens": list(self.price) if self.price else None,
            "cost_known": self.provider.free or self.price is not None,
            "est_cost_usd": round(per_request * n, 6),
            "est_seconds": round(seconds, 1),
        }

    # -- dispatch (calling thread: the only one that writes) -------------------------------------------

    def _dispatch(
        self, chunks: list[Chunk], pending: dict[str, list[int]], results: list[Result | None], b: Any
    ) -> None:
        in_flight: dict[Future[list[Result]], tuple[Chunk, float]] = {}
        reserved = 0.0
        nxt = 0
        budget_stop: float | None = None
        committed = 0.0  # spent + reserved for calls in flight when the budget stopped the run
        failure: BaseException | None = None
        last_save = time.monotonic()
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="datagen-exec")
        try:
            while True:
                while (
                    budget_stop is None
                    and failure is None
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
                    try:
                        outs = fut.result()
                    except BaseException as e:
                        failure = failure or e
                        continue
                    self._accept(chunk, outs, pending, results, b)
                self._sync_retries()
                if time.monotonic() - last_save > 5.0:
                    self.save_counters()
                    last_save = time.monotonic()
        except BaseException:
            # Ctrl-C or a failed cache write: workers stop retrying, queued calls are dropped; what is in
            # flight finishes but is not written (a rerun sends it again: never more than `workers` calls).
            self._cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            self._cancel.clear()
            self._sync_retries()
            self.save_counters()
            raise
        pool.shutdown(wait=True)
        self._sync_retries()
        if failure is not None:
            self.save_counters()
            if isinstance(failure, DatagenError):
                raise failure
            raise DatagenError(f"{type(failure).__name__}: {failure}") from failure
        if budget_stop is not None:
            self.save_counters()
            left = sum(len(c) for c in chunks[nxt:])
            raise BudgetExceeded(
                f"budget cap {usd(self.cfg.max_usd or 0.0)} reached: {usd(committed)} spent or reserved for calls in "
                f"flight, and the next call could cost up to {usd(budget_stop)}; {left} request(s) not sent "
                f"(spent in the end: {usd(self.spent_usd)}). What finished is cached: rerun with a higher max_usd "
                "to continue without paying twice."
            )

    def _accept(
        self,
        chunk: Chunk,
        outs: list[Result],
        pending: dict[str, list[int]],
        results: list[Result | None],
        b: Any,
    ) -> None:
        for out in outs:
            out.cost_usd = (
                0.0 if self.provider.free else cost_usd(self.price, out.prompt_tokens, out.completion_tokens)
            )
            out.cached = False
        self.cache.put([(key, req, out) for (key, req), out in zip(chunk, outs, strict=True)])
        for (key, _), out in zip(chunk, outs, strict=True):
            self._deliver(pending[key], out, results)
            b.advance(len(pending[key]))
        self.spent_usd += sum(o.cost_usd for o in outs)
        self.tokens += sum(o.prompt_tokens + o.completion_tokens for o in outs)
        self.count("requests", len(outs))
        self.count("prompt_tokens", sum(o.prompt_tokens for o in outs))
        self.count("completion_tokens", sum(o.completion_tokens for o in outs))
        self.count("cost_usd", sum(o.cost_usd for o in outs))
        b.update(tokens=self.tokens, cost=f"${self.spent_usd:.4f}")

    # -- bookkeeping ---------------------------------------------------------------------------------------

    def _deliver(self, indices: list[int], out: Result, results: list[Result | None]) -> None:
        """One answer to every position that asked for it: the same request twice in one call is sent once,
        and the copies are replays (paid once; each still says what the response cost)."""
        first, *rest = indices
        results[first] = out
        for i in rest:
            results[i] = replace(out, cached=True)
        self.count("cache_hits", len(rest))

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


class _NoBar:
    def advance(self, n: float = 1, **fields: Any) -> None:
        pass

    def update(self, **fields: Any) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None
