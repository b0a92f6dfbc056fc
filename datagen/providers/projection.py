"""Cost and time of a run's requests, projected from a few of them (``generate --estimate``).

``estimate`` sends a sample spread over the requests through the executor (so through the cache: a sample
already answered costs nothing); ``project`` turns sampled results into the projection: average tokens, the
price, and the time the executor's concurrency, batch size and rate limits allow.
"""

from __future__ import annotations

import math
from typing import Any

from datagen.providers.base import BatchProvider, Request, Result
from datagen.providers.executor import Executor
from datagen.providers.pricing import cost_usd


def spread(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)``, first and last included: the requests an estimate samples."""
    k = min(k, n)
    return sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(k)})


def estimate(ex: Executor, requests: list[Request], sample: int = 3) -> dict[str, Any]:
    """Run a few requests spread over the list (through the cache) and project cost and time of all."""
    picks = spread(len(requests), sample)
    done = ex.run([requests[i] for i in picks], progress=False, batch=False) if picks else []
    return project(ex, len(requests), done)


def project(ex: Executor, n: int, done: list[Result]) -> dict[str, Any]:
    """Cost and time of ``n`` requests, projected from the results ``done`` of a sample of them."""
    if not done:
        return {"requests": 0, "sampled": 0, "est_cost_usd": 0.0, "est_seconds": 0.0}
    cfg, provider = ex.cfg, ex.provider
    pt = sum(r.prompt_tokens for r in done) / len(done)
    ct = sum(r.completion_tokens for r in done) / len(done)
    per_call = sum(r.latency_s for r in done) / len(done)
    calls = math.ceil(n / max(1, provider.max_batch))
    seconds = calls * per_call / ex.workers
    if cfg.rpm:
        seconds = max(seconds, n * 60.0 / cfg.rpm)
    if cfg.tpm:
        seconds = max(seconds, n * (pt + ct) * 60.0 / cfg.tpm)
    per_request = cost_usd(ex.price, round(pt), round(ct))
    if cfg.batch_api and isinstance(provider, BatchProvider):
        per_request *= provider.batch_discount
    return {
        "requests": n,
        "sampled": len(done),
        "sample_cached": sum(r.cached for r in done),
        "avg_prompt_tokens": round(pt, 1),
        "avg_completion_tokens": round(ct, 1),
        "price_per_1m_tokens": list(ex.price) if ex.price else None,
        "cost_known": provider.free or ex.price is not None,
        "est_cost_usd": round(per_request * n, 6),
        "est_seconds": round(seconds, 1),
    }
