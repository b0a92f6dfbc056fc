"""Prices per model, so that every record and run carries its cost.

``DEFAULT_PRICES`` holds list prices in USD per one million input and output tokens for well-known OpenAI
and Anthropic models: list prices as configured here (taken from the vendors' public pricing pages as of
2025); they change, so override them per model in the config (``exec.prices``). A dated model name
(``gpt-4o-mini-2024-07-18``, ``claude-3-5-sonnet-20241022``, ``...-latest``) takes the price of its base
name; any other unknown name (``o3-pro``) has no price rather than a guessed one.

A model with no price: when a budget (``max_usd``) is set, the executor refuses to start (a budget that
cannot be counted is no budget: the safe choice); without a budget it warns once and counts cost 0.
"""

from __future__ import annotations

import re
import warnings

from datagen.errors import InputError

# What may follow a known name and still be the same model: a date or "latest" (not "-pro", "-mini", ...).
_VERSION_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4}|latest)$")

# model -> (USD per 1M input tokens, USD per 1M output tokens)
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o1-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    # Anthropic
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-opus": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-sonnet-4-5": (3.00, 15.00),
}


def price_of(
    model: str, overrides: dict[str, tuple[float, float]] | None = None
) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens: an override, a default, or those of the name without its date."""
    table = {**DEFAULT_PRICES, **(overrides or {})}
    if model in table:
        return table[model]
    base = _VERSION_SUFFIX.sub("", model)
    return table.get(base) if base != model else None


def endpoint_price(
    model: str, free: bool, overrides: dict[str, tuple[float, float]], max_usd: float | None
) -> tuple[float, float] | None:
    """The price the executor counts with: None for a free provider; for a model with no price, an InputError
    when a budget is set, else a warning (cost counted as 0)."""
    price = None if free else price_of(model, overrides)
    if price is None and not free:
        hint = f"set exec.prices['{model}'] = [USD per 1M input tokens, USD per 1M output tokens]"
        if max_usd is not None:
            raise InputError(
                f"no price known for model {model!r}, so a budget (max_usd) cannot be kept: {hint}"
            )
        warnings.warn(f"no price known for model {model!r}: cost is counted as 0 ({hint})", stacklevel=3)
    return price


def cost_usd(price: tuple[float, float] | None, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost of one completion; 0 when the price is unknown (the executor warned or refused already)."""
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000


def usd(value: float) -> str:
    """Money as people read it: cents for big sums, enough digits for the tiny ones a token costs."""
    if value >= 100:
        return f"${value:,.2f}"
    if 0 < value < 1e-6:
        return f"${value:.1e}"
    return f"${value:.6f}".rstrip("0").rstrip(".") if value else "$0"
