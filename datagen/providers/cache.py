"""The request cache: successful completions keyed by a hash of the request, in the ``completions`` table.

Key = sha256 of (provider, the endpoint's cache identity, messages, sampling params incl. seed, sample index)
(``Request.cache_key``; the identity is ``Provider.cache_model``: the model name, not the server's address, unless
the endpoint sets ``cache_as``). Only successes are stored, each batch in its own short transaction as soon as it
arrives, so a process killed at any moment loses at most the requests that were in flight; a rerun replays
everything that finished at no cost. The SDKs send no idempotency keys, so this is what prevents paying twice.

Several processes may answer the same request at once. ``put`` inserts with ``ON CONFLICT DO NOTHING`` and reads
back what the table holds: the first answer stored is *the* answer, and every process uses it (a record's
provenance then always matches the cached reply). Every answer that was paid for, the losing ones too, gets a
``payments`` row in the same transaction (with ``also``, the caller's run counters), so after any kill the ledger
equals what the provider billed, less at most the answers in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datagen.providers.base import Request, Result
from datagen.store.engine import Store, insert_new
from datagen.store.models import Completion, Payment, RequestFailure

_CHUNK = 500  # keys per IN (...) query; SQLite allows far more, PostgreSQL plans stay small

Answer = tuple[str, Request | None, Result]  # cache key, the request (None: not known here), its result


class CompletionCache:
    """Reads and writes completions of one (provider, cache identity)."""

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
            with self.store.session() as s:
                found.update(self._read(s, wanted[i : i + _CHUNK]))
        return found

    def put(
        self,
        answers: Sequence[Answer],
        *,
        run_id: int | None = None,
        paid: bool = True,
        also: Callable[[Session], None] | None = None,
    ) -> dict[str, Result]:
        """Offer answers to the cache in one short transaction; returns, for each key, the answer the cache
        holds: ours (``cached=False``) or the one another process stored first (``cached=True``), which is the
        one to use. With ``paid`` each answer is also a ``payments`` row of ``run_id`` (``stored`` says whether
        it became the cached one); ``also(session)`` writes more in the same transaction."""
        if not answers:
            return {}
        mine: dict[str, Result] = {}
        rows: dict[str, dict[str, Any]] = {}
        for key, req, res in answers:  # the first answer per key
            if key not in mine:
                mine[key], rows[key] = res, self._row(key, req, res)
        with self.store.session() as s:
            stored: set[str] = set()
            # PostgreSQL: a concurrent insert of the same key waits for the other transaction, then does nothing
            insert = insert_new(s, Completion, ["key"]).returning(Completion.key)
            for i in range(0, len(rows), _CHUNK):
                stored.update(s.scalars(insert.values(list(rows.values())[i : i + _CHUNK])))
            if paid:
                s.add_all(self._payment(key, res, run_id, key in stored) for key, _, res in answers)
            if also is not None:
                also(s)
            held = self._read(s, list(mine))
        return {key: mine[key] if key in stored else held[key] for key in mine}

    def record_failures(
        self,
        failures: list[tuple[str, Request, str, int | None]],
        run_id: int | None,
        also: Callable[[Session], None] | None = None,
    ) -> None:
        """Keep requests that failed after their retries (key, request, reason, HTTP status) on ``run_id``;
        ``also(session)`` writes more in the same transaction."""
        if not failures:
            return
        with self.store.session() as s:
            if also is not None:
                also(s)
            s.add_all(
                RequestFailure(
                    run_id=run_id,
                    key=key,
                    provider=self.provider,
                    model=self.model,
                    reason=reason[:4000],
                    status=status,
                    request=_request_json(req),
                )
                for key, req, reason, status in failures
            )

    def _read(self, s: Session, keys: list[str]) -> dict[str, Result]:
        rows = s.scalars(select(Completion).where(Completion.key.in_(keys))).all()
        return {row.key: _result_of(row) for row in rows}

    def _row(self, key: str, req: Request | None, res: Result) -> dict[str, Any]:
        return {
            "key": key,
            "provider": self.provider,
            "model": self.model,
            "request": _request_json(req) if req is not None else {},
            "text": res.text,
            "model_used": res.model_used,
            "finish_reason": res.finish_reason,
            "prompt_tokens": res.prompt_tokens,
            "completion_tokens": res.completion_tokens,
            "cost_usd": res.cost_usd,
            "latency_s": res.latency_s,
            "raw": res.raw,
        }

    def _payment(self, key: str, res: Result, run_id: int | None, stored: bool) -> Payment:
        return Payment(
            run_id=run_id,
            key=key,
            provider=self.provider,
            model=self.model,
            prompt_tokens=res.prompt_tokens,
            completion_tokens=res.completion_tokens,
            cost_usd=res.cost_usd,
            stored=stored,
        )


def _request_json(req: Request) -> dict[str, Any]:
    return {
        "messages": req.message_dicts(),
        "params": req.params.model_dump(mode="json"),
        "sample_index": req.sample_index,
    }


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
