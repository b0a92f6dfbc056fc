"""The teacher a generation run talks to: a provider behind the one execution layer, plus the cache key.

Failure isolation: ``run`` gives None for a request that failed after its retries (recorded in
``request_failures``; the run ends ``partial``), and the method goes on with what arrived. A method whose later
steps are built from earlier answers (Self-Instruct's pools) attaches with ``defer_failed``: a request that
failed in an earlier run is then not sent where it stands but given as None again (``deferred``), so a rerun
builds exactly the steps the failed run built, from the cache, and sends the deferred requests at its end
(``late=True``), where their answers are used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import select

from datagen import progress
from datagen.generation.config import TeacherConfig
from datagen.generation.published import RETRY_MAX_TOKENS
from datagen.prompts import Template
from datagen.providers.base import Provider, Request, Result, SamplingParams
from datagen.providers.executor import Executor
from datagen.store.engine import Store
from datagen.store.models import RequestFailure
from datagen.store.runs import RunHandle

T = TypeVar("T", bound="Teacher")


class Teacher:
    """Renders prompts into requests and runs them through the executor (cached, retried, budgeted)."""

    def __init__(
        self, store: Store, cfg: TeacherConfig, provider: Provider | None = None, direct: bool = False
    ) -> None:
        """Make the provider and its executor: a missing API key, an unknown option or a budget without a price
        is refused here, before the command writes anything (``with Teacher(...)``: ends what the executor
        started). ``attach`` the run before the first request.
        ``direct``: never through the batch API (an estimate's few samples must not wait a day)."""
        self.direct = direct
        if provider is None:
            from datagen.providers.registry import make_provider

            provider = make_provider(cfg)
        self.provider = provider
        self.store = store
        self.executor = Executor(store, provider, cfg.exec)
        self.defer_failed = False
        self.deferred: set[str] = set()  # keys given as None because they failed in an earlier run

    def __enter__(self: T) -> T:
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop what the executor started (Ray actors holding a local model)."""
        self.executor.close()

    def attach(self, run: RunHandle, defer_failed: bool = False) -> Teacher:
        """The run whose counters the requests update and whose records they make; ``defer_failed``: see the
        module docstring."""
        self.run_handle = self.executor.run_handle = run
        self.defer_failed = defer_failed
        return self

    @property
    def name(self) -> str:
        return self.provider.name

    @property
    def model(self) -> str:
        return self.provider.model

    def key(self, request: Request) -> str:
        """The request's cache key: the root of the uids of the records made from its reply."""
        return request.cache_key(self.provider.name, self.provider.cache_model())

    @staticmethod
    def request(
        template: Template, params: SamplingParams, sample_index: int = 0, **variables: Any
    ) -> Request:
        return Request.of([{"role": "user", "content": template.render(**variables)}], params, sample_index)

    def run(self, requests: list[Request], late: bool = False) -> list[Result | None]:
        """One result per request, in order; None for a request that failed after its retries and, with
        ``defer_failed`` and not ``late``, for one that failed in an earlier run (not sent: ``deferred``)."""
        if not requests:
            return []
        keys = [self.key(r) for r in requests]
        skip = self._failed_before(keys) if self.defer_failed and not late else set()
        self.deferred |= skip
        progress.meter("requests").add_total(-len(skip))  # not asked: out of any planned total
        send = [r for r, k in zip(requests, keys, strict=True) if k not in skip]
        got = iter(self.executor.run_partial(send, batch=not self.direct) if send else [])
        return [None if k in skip else next(got) for k in keys]

    def _failed_before(self, keys: list[str]) -> set[str]:
        """Which of ``keys`` failed after their retries in another run (``request_failures``)."""
        with self.store.session() as s:
            q = select(RequestFailure.key).where(
                RequestFailure.key.in_(set(keys)), RequestFailure.run_id != self.run_handle.id
            )
            return set(s.scalars(q).all())

    def run_decisions(
        self, requests: list[Request], whole: Callable[[str], bool], late: bool = False
    ) -> tuple[list[Request], list[Result | None], list[bool]]:
        """Short answers read as decisions (Yes/No, Equal/Not Equal). A reply cut by the length limit that
        does not hold a whole answer (``whole(text)``: "Ye" does not) is asked once more with more room
        (``RETRY_MAX_TOKENS`` at least, four times the length); still cut, it is truncated and must not be read.
        Returns the request behind each final reply, the reply (None: failed, as ``run``), and whether it
        stayed truncated."""
        return self.retry_cut(requests, self.run(requests, late), whole, late)

    def retry_cut(
        self,
        requests: list[Request],
        results: list[Result | None],
        whole: Callable[[str], bool],
        late: bool = False,
    ) -> tuple[list[Request], list[Result | None], list[bool]]:
        """``run_decisions`` for requests already run (``results``, in order)."""
        final, results = list(requests), list(results)
        again = [i for i, r in enumerate(results) if r is not None and _cut_short(r, whole)]
        roomier = [_with_room(requests[i]) for i in again]
        progress.meter("requests").add_total(len(roomier))  # asked again: beyond any planned total
        for i, req, res in zip(again, roomier, self.run(roomier, late), strict=True):
            first = results[i]
            assert first is not None
            final[i] = req  # the reply costs both calls
            results[i] = None if res is None else replace(res, cost_usd=res.cost_usd + first.cost_usd)
        return final, results, [r is not None and _cut_short(r, whole) for r in results]

    def sampling(self, params: SamplingParams) -> dict[str, Any]:
        """The sampling a request asked for, with what its provider emulated or dropped of it."""
        return {**params.model_dump(mode="json"), **self.provider.sending(params).note()}


def whole_answer(*answers: str) -> Callable[[str], bool]:
    """A check that a reply cut by the length limit still holds a whole answer: after any leading markup, one
    of ``answers`` (any case) followed by something that is not a letter ("Yes," is whole; "Ye" and a bare
    "No", which may have been "Not", are not)."""
    pattern = re.compile(r"\W*(?:" + "|".join(re.escape(a) for a in answers) + r")\W", re.I)
    return lambda text: pattern.match(text) is not None


def _cut_short(result: Result, whole: Callable[[str], bool]) -> bool:
    return result.finish_reason == "length" and not whole(result.text)


def _with_room(request: Request) -> Request:
    more = max(RETRY_MAX_TOKENS, 4 * request.params.max_tokens)
    return Request(
        request.messages, request.params.model_copy(update={"max_tokens": more}), request.sample_index
    )


def provenance(
    teacher: Teacher, used: list[tuple[Template, SamplingParams]], meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``meta`` (a copy) with every template a record came from (name -> sha256) and the sampling of its
    request (name -> ``Teacher.sampling``) added under ``templates`` and ``sampling``: the template name is
    the prompt kind."""
    out = dict(meta or {})
    out["templates"] = {**out.get("templates", {}), **{t.name: t.sha256 for t, _ in used}}
    out["sampling"] = {**out.get("sampling", {}), **{t.name: teacher.sampling(p) for t, p in used}}
    return out


def record_fields(teacher: Teacher, template: Template, request: Request, result: Result) -> dict[str, Any]:
    """The provenance columns every generated record carries; ``params`` is the sampling the request asked
    for with what its provider emulated or dropped (``Teacher.sampling``)."""
    return {
        "template_name": template.name,
        "template_sha256": template.sha256,
        "provider": teacher.name,
        "model": result.model_used or teacher.model,
        "params": teacher.sampling(request.params),
        "request_hash": teacher.key(request),
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "cost_usd": result.cost_usd,
        "latency_s": result.latency_s,
    }
