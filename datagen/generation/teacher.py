"""The teacher a generation run talks to: a provider behind the one execution layer, plus the cache key."""

from __future__ import annotations

from typing import Any

from datagen.generation.config import TeacherConfig
from datagen.prompts import Template
from datagen.providers.base import Provider, Request, Result, SamplingParams
from datagen.providers.executor import Executor
from datagen.store.engine import Store
from datagen.store.runs import RunHandle


class Teacher:
    """Renders prompts into requests and runs them through the executor (cached, retried, budgeted)."""

    def __init__(
        self, store: Store, cfg: TeacherConfig, provider: Provider | None = None, direct: bool = False
    ) -> None:
        """Make the provider and its executor: a missing API key, an unknown option or a budget without a price
        is refused here, before the command writes anything. ``attach`` the run before the first request.
        ``direct``: never through the batch API (an estimate's few samples must not wait a day)."""
        self.direct = direct
        if provider is None:
            from datagen.providers.registry import make_provider

            provider = make_provider(cfg)
        self.provider = provider
        self.executor = Executor(store, provider, cfg.exec)

    def attach(self, run: RunHandle) -> Teacher:
        """The run whose counters the requests update and whose records they make."""
        self.run_handle = self.executor.run_handle = run
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

    def run(self, requests: list[Request]) -> list[Result]:
        return self.executor.run(requests, progress=False, batch=not self.direct) if requests else []


def record_fields(teacher: Teacher, template: Template, request: Request, result: Result) -> dict[str, Any]:
    """The provenance columns every generated record carries."""
    return {
        "template_name": template.name,
        "template_sha256": template.sha256,
        "provider": teacher.name,
        "model": result.model_used or teacher.model,
        "params": request.params.model_dump(mode="json"),
        "request_hash": teacher.key(request),
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "cost_usd": result.cost_usd,
        "latency_s": result.latency_s,
    }
