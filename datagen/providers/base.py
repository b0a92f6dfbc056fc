"""The provider interface: messages in, completions out.

A provider declares what it is with class attributes (``name``, ``needs_key``, ``key_env_var``,
``max_batch``) and validates its options with a pydantic model that forbids unknown keys. Concurrency,
retries, rate limits, budget and the request cache live in the execution layer, not here.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field

from datagen.config import ConfigModel
from datagen.errors import DatagenError


def http_url(url: str | None) -> str | None:
    """A provider's ``base_url`` must be an http(s) URL (a typo fails at once, not after a minute of retries)."""
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    return url


BaseUrl = Annotated[str | None, AfterValidator(http_url)]


class SamplingParams(ConfigModel):
    """Sampling settings shared by every provider (nucleus sampling p=0.9 by default, as in the literature)."""

    temperature: float = Field(default=0.7, ge=0, description="sampling temperature (0: greedy)")
    top_p: float = Field(default=0.9, gt=0, le=1, description="nucleus sampling mass")
    max_tokens: int = Field(default=512, gt=0, description="longest answer, in tokens")
    stop: list[str] | None = Field(default=None, description="stop strings")
    seed: int | None = Field(default=None, description="sampling seed, where the provider takes one")


@dataclass(frozen=True)
class Request:
    """One completion to make. ``sample_index`` tells apart repeated samples of the same prompt."""

    messages: tuple[tuple[str, str], ...]  # ((role, content), ...)
    params: SamplingParams
    sample_index: int = 0

    @staticmethod
    def of(messages: list[dict[str, str]], params: SamplingParams, sample_index: int = 0) -> Request:
        return Request(tuple((m["role"], m["content"]) for m in messages), params, sample_index)

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def cache_key(self, provider: str, model: str) -> str:
        """sha256 of (provider, model, messages, params, seed, sample index) in canonical JSON."""
        payload = {
            "provider": provider,
            "model": model,
            "messages": self.message_dicts(),
            "params": self.params.model_dump(mode="json"),
            "sample_index": self.sample_index,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class Result:
    text: str
    model_used: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None  # "stop" | "length" | ...
    raw: dict[str, Any] = field(default_factory=dict)
    latency_s: float = 0.0
    # What the response cost when it was bought. A replay from the cache keeps it (so a record built in a resumed
    # run carries what it cost) and is marked ``cached``: run counters and the budget count only what was paid.
    cost_usd: float = 0.0
    cached: bool = False


class ProviderError(DatagenError):
    """A failed completion. ``retryable`` ones (connection errors, timeouts, 408/409/429/5xx, malformed
    responses) are retried by the executor with backoff, waiting at least ``retry_after`` seconds when the
    server said so; the others (bad request, authentication) fail the run at once."""

    def __init__(
        self, message: str, *, retryable: bool, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or status >= 500


class Provider(ABC):
    """A teacher or judge model. Implement ``complete``; declare capabilities as class attributes."""

    name: ClassVar[str]
    needs_key: ClassVar[bool] = False
    key_env_var: ClassVar[str | None] = None
    max_batch: int = 1  # >1: complete() takes several requests in one call (local batching)
    max_concurrency: int | None = None  # a cap on calls in flight (1 for a local model); None: no cap
    free: ClassVar[bool] = False  # True: costs nothing (local models), no price needed
    default_model: ClassVar[str | None] = None
    Options: ClassVar[type[ConfigModel]] = ConfigModel

    def __init__(self, model: str, options: ConfigModel | None = None) -> None:
        self.model = model
        self.options = options or self.Options()
        self.timeout_s: float = 60.0  # set by the executor from its config

    @classmethod
    def key_optional(cls, options: ConfigModel) -> bool:
        """True when these options need no API key although the provider usually does."""
        return False

    @property
    def label(self) -> str:
        """How errors name this provider: name, model and endpoint (``openai:gpt-4o-mini@http://host/v1``)."""
        return f"{self.name}:{self.cache_model()}"

    def cache_model(self) -> str:
        """The model name as it enters cache keys, with the endpoint when the options name one (``base_url``:
        another server may serve something else under the same name); a provider adds whatever else changes
        its outputs."""
        base_url = getattr(self.options, "base_url", None)
        return f"{self.model}@{base_url}" if base_url else self.model

    @abstractmethod
    def complete(self, requests: list[Request]) -> list[Result]:
        """Complete ``len(requests) <= max_batch`` requests; raise on failure (the executor retries)."""


# (cache key, request) pairs sent together: one provider call, or one submitted batch.
Chunk = list[tuple[str, Request]]


@dataclass
class BatchState:
    """Where a submitted batch is: ``ended`` once the provider has settled every request in it."""

    ended: bool
    done: int  # requests settled so far (succeeded or failed)
    total: int
    error: str | None = None  # why the batch failed as a whole (nothing in it ran)


class BatchProvider(Provider):
    """A provider with a batch API (OpenAI Batch, Anthropic Message Batches): requests submitted together are
    answered within a day at half price. ``custom_id`` is the request's cache key (64 hex characters)."""

    batch_discount: ClassVar[float] = 0.5  # batch price = list price x this

    @abstractmethod
    def batch_submit(self, items: list[tuple[str, Request]]) -> str:
        """Submit (custom_id, request) pairs; returns the provider's batch id."""

    @abstractmethod
    def batch_state(self, batch_id: str) -> BatchState: ...

    @abstractmethod
    def batch_results(self, batch_id: str) -> dict[str, Result | str]:
        """custom_id -> its Result, or why it failed (errored, expired or cancelled requests)."""
