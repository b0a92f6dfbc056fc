"""The provider interface: messages in, completions out.

A provider declares what it is with class attributes (``name``, ``needs_key``, ``key_env_var``,
``max_batch``) and validates its options with a pydantic model that forbids unknown keys. Concurrency,
retries, rate limits, budget and the request cache live in the execution layer, not here.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
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
    """Sampling settings shared by every provider (nucleus sampling p=0.9 by default, as in the literature).

    A provider that cannot take one of them emulates it where it can (a stop string: the reply is cut at its
    first stop string on this side) or drops it; ``Provider.sending`` says which, and every generated record
    stores that next to the parameters it asked for."""

    temperature: float = Field(default=0.7, ge=0, description="sampling temperature (0: greedy)")
    top_p: float = Field(default=0.9, gt=0, le=1, description="nucleus sampling mass")
    max_tokens: int = Field(
        default=512,
        gt=0,
        description="longest answer, in tokens (a generation method's default is capped by the provider's "
        "default_max_tokens: local 256)",
    )
    stop: list[str] | None = Field(
        default=None,
        description="stop strings: the reply ends before the first one (cut on this side where the provider "
        "cannot take them: Anthropic takes no whitespace-only one, OpenAI at most 4)",
    )
    presence_penalty: float = Field(
        default=0.0,
        ge=-2.0,
        le=2.0,
        description="lowers the logit of every token already in the reply by this much (OpenAI's "
        "presence_penalty; the local provider applies it too; Anthropic has none and drops it)",
    )
    seed: int | None = Field(default=None, description="sampling seed, where the provider takes one")


# Fields added to SamplingParams after caches existed, with the value that means "not set": left out of the
# cache key at that value, so a request that does not use them keeps the key it always had.
_ADDED_LATER = {"presence_penalty": 0.0}


def params_key(params: SamplingParams) -> dict[str, Any]:
    """The sampling parameters as they enter a cache key (see ``_ADDED_LATER``)."""
    out = params.model_dump(mode="json")
    for name, unset in _ADDED_LATER.items():
        if out.get(name) == unset:
            del out[name]
    return out


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
            "params": params_key(self.params),
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


# The sampling parameters a provider may be unable to take (max_tokens every provider takes).
SAMPLING_KNOBS = frozenset({"temperature", "top_p", "stop", "presence_penalty", "seed"})


@dataclass(frozen=True)
class Sending:
    """How a provider sends one request's sampling: the parameters that go on the wire (``params``), what it
    does on this side instead (``emulated``: ``stop``, the reply cut at its first stop string) and what it
    cannot honour at all (``dropped``)."""

    params: SamplingParams
    emulated: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()

    def note(self) -> dict[str, list[str]]:
        """What a record stores about it."""
        return {"emulated": list(self.emulated), "dropped": list(self.dropped)}


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
    # Sampling: what the API takes (see ``sending``), the most stop strings one request may carry, whether a
    # whitespace-only stop string is accepted, and a cap on the generation methods' default lengths (a user
    # who sets max_tokens gets what they set).
    takes: ClassVar[frozenset[str]] = SAMPLING_KNOBS
    max_stops: ClassVar[int | None] = None
    blank_stops: ClassVar[bool] = True
    default_max_tokens: ClassVar[int | None] = None

    def __init__(self, model: str, options: ConfigModel | None = None) -> None:
        self.model = model
        self.options = options or self.Options()
        self.timeout_s: float = 60.0  # set by the executor from its config
        self.cache_as: str | None = None  # the endpoint's ``cache_as`` (set by make_provider)
        self.api_key: str | None = None  # the key it was made with (set by make_provider; handed to workers)
        # Set by the executor when its caller is interrupted: a long call (a local batch) should stop early and
        # raise instead of returning partial answers.
        self.cancelled = threading.Event()

    @classmethod
    def key_optional(cls, options: ConfigModel) -> bool:
        """True when these options need no API key although the provider usually does."""
        return False

    @property
    def label(self) -> str:
        """How errors name this provider: name, model and endpoint (``openai:gpt-4o-mini@http://host/v1``)."""
        from datagen.urls import masked

        base_url = getattr(self.options, "base_url", None)
        return f"{self.name}:{self.model}" + (f"@{masked(base_url)}" if base_url else "")

    def cache_model(self) -> str:
        """The endpoint's identity in cache keys: the endpoint's ``cache_as`` when set, else the model name. The
        server's address (``base_url``) is not part of it: the same server on another port or host alias
        replays what it answered. Two servers that serve different weights under one name must say so
        (``cache_as``). A provider adds whatever else changes its outputs (the local one: its dtype)."""
        return self.cache_as or self.model

    def sampling_support(self) -> frozenset[str]:
        """The sampling parameters this provider sends with its options (``takes``, unless an option changes it)."""
        return self.takes

    def sending(self, params: SamplingParams) -> Sending:
        """The parameters to put on the wire for ``params``: stop strings the API refuses (past ``max_stops``,
        whitespace-only ones where ``blank_stops`` is False, all where it takes none) stay on this side
        (``emulate`` cuts the reply at them); a parameter it cannot take is dropped (temperature and top_p
        always, presence_penalty and seed when set)."""
        takes = self.sampling_support()
        stops = [s for s in params.stop or [] if s]
        sent = [s for s in stops if self.blank_stops or s.strip()] if "stop" in takes else []
        sent = sent[: self.max_stops] if self.max_stops is not None else sent
        asked = {"temperature": True, "top_p": True, "presence_penalty": params.presence_penalty != 0}
        asked["seed"] = params.seed is not None
        dropped = [k for k, used in asked.items() if used and k not in takes]
        update: dict[str, Any] = {"stop": sent or None}
        if "presence_penalty" not in takes:
            update["presence_penalty"] = 0.0
        if "seed" not in takes:
            update["seed"] = None
        emulated = ("stop",) if len(sent) < len(stops) else ()
        return Sending(params.model_copy(update=update), emulated, tuple(dropped))

    def emulate(self, request: Request, result: Result) -> Result:
        """The reply cut before its first stop string, finishing with ``stop``. Every stop string counts, also
        one the API was sent (a compatible server may ignore it); a cut reply is left as it is, so a replay
        from the cache comes out the same."""
        found = [i for i in (result.text.find(s) for s in request.params.stop or [] if s) if i >= 0]
        if not found:
            return result
        return replace(result, text=result.text[: min(found)], finish_reason="stop")

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
