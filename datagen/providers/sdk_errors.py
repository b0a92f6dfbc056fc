"""Turning openai / anthropic SDK exceptions into ``ProviderError`` (both SDKs share one exception design).

The SDK clients are built with ``max_retries=0``: retrying is the executor's job, in one place.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pydantic

from datagen.providers.base import ProviderError, is_retryable_status

# What a malformed body turns into inside an SDK call: a JSON error or a pydantic validation error.
MALFORMED: tuple[type[Exception], ...] = (json.JSONDecodeError, pydantic.ValidationError)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date); None if absent or
    unreadable (a malformed header must not turn a retryable error into a fatal one)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return _clamp(float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return _clamp(float(value))
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):  # neither seconds nor an HTTP date: as if absent
        return None
    return _clamp(parsed.timestamp() - time.time())


MAX_RETRY_AFTER_S = 600.0  # a server asking for longer (or "inf", or NaN) gets this much


def _clamp(seconds: float) -> float:
    return seconds if 0.0 <= seconds <= MAX_RETRY_AFTER_S else (0.0 if seconds < 0 else MAX_RETRY_AFTER_S)


def translate(e: BaseException, sdk: Any, where: str) -> ProviderError:
    """The ProviderError for an exception raised by an SDK call (``sdk`` is the openai or anthropic module)."""
    if isinstance(e, sdk.APITimeoutError):
        return ProviderError(f"{where}: timed out", retryable=True)
    if isinstance(e, sdk.APIConnectionError):
        return ProviderError(f"{where}: connection error: {e}", retryable=True)
    if isinstance(e, sdk.APIStatusError):
        status = int(e.status_code)
        return ProviderError(
            f"{where}: HTTP {status}: {_short(e)}",
            retryable=is_retryable_status(status),
            status=status,
            retry_after=retry_after(e.response.headers if e.response is not None else None),
        )
    if isinstance(e, (sdk.APIResponseValidationError, *MALFORMED)):
        return ProviderError(f"{where}: malformed response: {type(e).__name__}: {_short(e)}", retryable=True)
    raise e


def _short(e: BaseException, limit: int = 300) -> str:
    text = str(e)
    return text if len(text) <= limit else text[:limit] + "..."


@contextmanager
def translated(sdk: Any, where: str) -> Iterator[None]:
    """Run SDK calls so that their errors (and malformed bodies) surface as ``ProviderError`` naming ``where``;
    ``sdk`` is the ``openai`` or ``anthropic`` module (their base errors are ``OpenAIError``/``AnthropicError``)."""
    base = getattr(sdk, "OpenAIError", None) or sdk.AnthropicError
    try:
        yield
    except (base, *MALFORMED) as e:
        raise translate(e, sdk, where) from e
