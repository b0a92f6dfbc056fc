"""The closing summary shared by the generation commands."""

from __future__ import annotations

from typing import Any

from datagen.providers.executor import COUNTERS


def summarize(run_id: int, counters: dict[str, Any], kept: int) -> dict[str, Any]:
    """The closing summary: how the run ended (``partial`` when requests failed after their retries: a rerun
    retries them), requests, tokens, cost, what was kept, and cost per kept record."""
    cost = float(counters.get("cost_usd", 0.0))
    return {
        "run_id": run_id,
        "status": "partial" if counters.get("failed_requests") else "succeeded",
        "requests": int(counters.get("requests", 0)),
        "cache_hits": int(counters.get("cache_hits", 0)),
        "retries": int(counters.get("retries", 0)),
        "failed_requests": int(counters.get("failed_requests", 0)),
        "paid_duplicates": int(counters.get("paid_duplicates", 0)),
        "prompt_tokens": int(counters.get("prompt_tokens", 0)),
        "completion_tokens": int(counters.get("completion_tokens", 0)),
        "cost_usd": round(cost, 6),
        "cost_per_kept_usd": round(cost / kept, 6) if kept else None,
        **{k: v for k, v in counters.items() if k not in COUNTERS},
    }
