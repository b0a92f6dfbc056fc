"""Progress and the closing summary shared by the generation commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from datagen.providers.executor import COUNTERS

Tick = Callable[[int, dict[str, Any]], None]


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Tick]:
    """A bar over ``total`` units with ETA, tokens and cost (read from the run's counters) on stderr (shown
    only on a terminal: ``datagen.progress``)."""
    from datagen.progress import bar

    with bar(label, total=total, extra="{task.fields[tokens]} tok  ${task.fields[cost]}") as b:
        b.update(tokens=0, cost="0.0000")

        def tick(done: int, counters: dict[str, Any]) -> None:
            tokens = int(counters.get("prompt_tokens", 0) + counters.get("completion_tokens", 0))
            b.update(
                completed=min(done, total), tokens=f"{tokens:,}", cost=f"{counters.get('cost_usd', 0.0):.4f}"
            )

        yield tick


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
