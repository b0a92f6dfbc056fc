"""One provider call with retries: exponential backoff with jitter, retry-after honoured, rate limits paced.

Runs on the executor's worker threads. Retryable: connection errors, timeouts, 408/409/429/5xx and
malformed responses (``ProviderError.retryable``); anything else fails at once. A 429 with retry-after
pauses every worker (through the shared ``RateLimiter``), not only the one that got it. The ``cancel`` event
stops waiting and retrying at once (Ctrl-C in the calling thread).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from datagen.providers.base import Provider, ProviderError, Request, Result
from datagen.providers.ratelimit import RateLimiter


def estimate_prompt_tokens(request: Request) -> int:
    """A deliberately high guess (3 characters per token, 8 per message) for budgets and tpm pacing."""
    return sum(len(c) // 3 + 8 for _, c in request.messages)


class RetryingCaller:
    """Calls ``provider.complete`` for a chunk of requests until it succeeds or retrying is pointless."""

    def __init__(
        self,
        provider: Provider,
        limiter: RateLimiter,
        cancel: threading.Event,
        *,
        max_retries: int,
        backoff_s: float,
        backoff_max_s: float,
        seed: int,
        complete: Callable[[list[Request]], list[Result]] | None = None,
    ) -> None:
        self.provider = provider
        self.complete = complete or provider.complete  # the executor's Ray actors, for a local model on Ray
        self.limiter = limiter
        self.cancel = cancel
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.retries = 0  # retries made so far (all threads)

    def call(self, reqs: list[Request]) -> list[Result]:
        est_tokens = sum(estimate_prompt_tokens(r) + r.params.max_tokens for r in reqs)
        where = self.provider.label
        attempt = 0
        while True:
            if not self.limiter.acquire(len(reqs), est_tokens):
                raise ProviderError(f"{where}: cancelled before sending", retryable=False)
            t0 = time.perf_counter()
            try:
                outs = self.complete(reqs)
                if len(outs) != len(reqs):
                    raise ProviderError(
                        f"{where} returned {len(outs)} results for {len(reqs)}", retryable=False
                    )
            except ProviderError as e:
                err = e
            except (ConnectionError, TimeoutError) as e:
                err = ProviderError(f"{type(e).__name__}: {e}", retryable=True)
            else:
                latency = time.perf_counter() - t0
                for o in outs:
                    o.latency_s = o.latency_s or latency
                self.limiter.correct_tokens(
                    est_tokens, sum(o.prompt_tokens + o.completion_tokens for o in outs)
                )
                return outs
            if not err.retryable or attempt >= self.max_retries:
                tries = f"after {attempt + 1} attempt(s)" if err.retryable else "(not retryable)"
                raise ProviderError(
                    f"{where} request failed {tries}: {err}", retryable=err.retryable, status=err.status
                ) from err
            delay = self.backoff(attempt)
            if err.retry_after is not None:
                delay = max(delay, err.retry_after)
                if err.status == 429:
                    self.limiter.pause(err.retry_after)
            with self._lock:
                self.retries += 1
            if self.cancel.wait(delay):
                raise ProviderError(
                    f"{where}: cancelled while waiting to retry after: {err}", retryable=False
                )
            attempt += 1

    def backoff(self, attempt: int) -> float:
        """``backoff_s · 2^attempt`` capped at ``backoff_max_s``, times a jitter factor in [0.5, 1)."""
        with self._lock:
            jitter = self._rng.uniform(0.5, 1.0)
        return min(self.backoff_max_s, self.backoff_s * 2**attempt) * jitter
