"""The request cache: successful completions keyed by a hash of the request, in the ``completions`` table.

Key = sha256 of (provider, model, messages, sampling params incl. seed, sample index)
(``Request.cache_key``). Only successes are stored, each in its own short transaction as soon as it
arrives, so a process killed at any moment loses at most the requests that were in flight; a rerun replays
everything that finished at no cost. The SDKs send no idempotency keys, so this is what prevents paying
twice for the same request.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from datagen.providers.base import Request, Result
from datagen.store.engine import Store
from datagen.store.models import Completion

_CHUNK = 500  # keys per IN (...) query; SQLite allows far more, PostgreSQL plans stay small


class CompletionCache:
    """Reads and writes completions of one (provider, model)."""

    def __init__(self, store: Store, provider: str, model: str) -> None:
        self.store = store
        self.provider = provider
        self.model = model

    def key(self, request: Request) -> str:
        return request.cache_key(self.provider, self.model)

    def get_many(self, keys: Iterable[str]) -> dict[str, Result]:
        """Cached results by key (only the keys found), marked ``cached=True`` (a replay is free; its
        ``cost_usd`` is what the original request cost)."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, Result] = {}
        for i in range(0, len(wanted), _CHUNK):
            chunk = wanted[i : i + _CHUNK]
            with self.store.session() as s:
                rows = s.scalars(select(Completion).where(Completion.key.in_(chunk))).all()
                for row in rows:
                    found[row.key] = _result_of(row)
        return found

    def put(self, pairs: list[tuple[str, Request | None, Result]]) -> None:
        """Store successes in one short transaction; a key already present is left as it was. (The request is
        kept for reading only; None for a batch answer to a request another call submitted.)"""
        if not pairs:
            return
        with self.store.session() as s:
            present = set(
                s.scalars(select(Completion.key).where(Completion.key.in_([k for k, _, _ in pairs])))
            )
            for key, req, res in pairs:
                if key in present:
                    continue
                present.add(key)
                s.add(
                    Completion(
                        key=key,
                        provider=self.provider,
                        model=self.model,
                        request={
                            "messages": req.message_dicts(),
                            "params": req.params.model_dump(mode="json"),
                            "sample_index": req.sample_index,
                        }
                        if req is not None
                        else {},
                        text=res.text,
                        model_used=res.model_used,
                        finish_reason=res.finish_reason,
                        prompt_tokens=res.prompt_tokens,
                        completion_tokens=res.completion_tokens,
                        cost_usd=res.cost_usd,
                        latency_s=res.latency_s,
                        raw=res.raw,
                    )
                )


def _result_of(row: Completion) -> Result:
    return Result(
        text=row.text,
        model_used=row.model_used or row.model,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        finish_reason=row.finish_reason,
        raw=dict(row.raw or {}),
        latency_s=row.latency_s,
        cost_usd=row.cost_usd,
        cached=True,
    )
