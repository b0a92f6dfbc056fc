"""Providers by name. Built-in providers register through the same ``register`` call a plugin would use.

``make_provider(endpoint)`` takes a ``datagen.endpoint.ModelEndpoint`` (provider, model, options, api_key,
dtype, device), validates the options against the provider's pydantic model (unknown keys are an InputError
naming them) and resolves the API key: the endpoint's ``api_key`` (where the ``--api-key`` flag overrides a
recipe's, as every flag does), then the provider's environment variable; a provider that needs a key and
finds none fails with an InputError naming that variable.

Adding a provider: subclass ``Provider`` (base.py) with ``name``, ``needs_key``/``key_env_var`` if it takes a
key (its constructor then takes ``api_key=``), an ``Options`` pydantic model (``ConfigModel``: unknown keys
are errors), ``max_batch``/``max_concurrency`` if it batches or must run alone, and one method,
``complete(requests) -> results``, that raises ``ProviderError(retryable=...)`` on failure (built with the
SDK's own retries off: the executor retries). A provider that runs a model on this machine sets
``runs_locally = True`` and its constructor takes ``dtype=`` and ``device=`` (the endpoint's). What it can
send of ``SamplingParams`` it declares with ``takes`` (and ``max_stops``, ``blank_stops``; override
``sampling_support`` when an option changes it), and builds its request from ``self.sending(params).params``:
stop strings it cannot send are cut from the reply by the executor, and every record says what was emulated
or dropped. ``default_max_tokens`` caps the generation methods' default lengths (local: 256). Then
``register(MyProvider)``. Test it against ``tests/fake_api.py`` when it speaks an HTTP API.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from datagen.config import build
from datagen.errors import InputError
from datagen.providers.base import Provider

if TYPE_CHECKING:
    from datagen.endpoint import ModelEndpoint

PROVIDERS: dict[str, type[Provider]] = {}

# Built-ins, imported on first use (the SDKs and torch stay out of `datagen --help`).
_BUILTIN = {
    "openai": "datagen.providers.openai_provider:OpenAIProvider",
    "anthropic": "datagen.providers.anthropic_provider:AnthropicProvider",
    "local": "datagen.providers.local:LocalProvider",
}


def register(cls: type[Provider]) -> type[Provider]:
    """Make a provider class available by its ``name`` (usable as a decorator)."""
    PROVIDERS[cls.name] = cls
    return cls


def names() -> list[str]:
    return sorted(set(PROVIDERS) | set(_BUILTIN))


def provider_class(name: str) -> type[Provider]:
    if name not in PROVIDERS and name in _BUILTIN:
        module, attr = _BUILTIN[name].split(":")
        register(getattr(importlib.import_module(module), attr))
    if name not in PROVIDERS:
        raise InputError(f"unknown provider {name!r}: choose one of {', '.join(names())}")
    return PROVIDERS[name]


def resolve_key(cls: type[Provider], api_key: str | None, options: Any) -> str | None:
    """The given key, then the environment; an InputError naming the variable when a needed key is missing."""
    key = api_key or (os.environ.get(cls.key_env_var) if cls.key_env_var else None)
    if key:
        return key
    if cls.needs_key and not cls.key_optional(options):
        raise InputError(
            f"provider {cls.name!r} needs an API key: set the environment variable {cls.key_env_var} "
            f"(or pass --api-key, or set api_key in the config)"
        )
    return None


def make_provider(endpoint: ModelEndpoint) -> Provider:
    """A ready provider for an endpoint; no model set takes the provider's default model where it has one."""
    name = endpoint.provider
    cls = provider_class(name)
    opts = build(cls.Options, dict(endpoint.options), f"options of provider {name!r}")
    model = endpoint.model or cls.default_model
    if not model:
        raise InputError(
            f"provider {name!r} needs a model name (--model, --judge-model, or `model` in the recipe)"
        )
    kwargs: dict[str, Any] = {}
    if getattr(cls, "runs_locally", False):
        kwargs.update(dtype=endpoint.dtype, device=endpoint.device)
    if cls.key_env_var is not None:
        kwargs["api_key"] = resolve_key(cls, endpoint.api_key, opts)
    provider = cls(model, opts, **kwargs)
    provider.cache_as = endpoint.cache_as
    provider.api_key = kwargs.get("api_key")
    return provider
