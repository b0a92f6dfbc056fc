"""Every filter, registered once by name (imported lazily: the model-based ones pull in torch).

Adding a filter: write ``filters/<name>.py`` with a ``Filter`` subclass, add one line here.
"""

from __future__ import annotations

import importlib
from typing import Any

from datagen.config import build
from datagen.errors import InputError
from filters.base import Filter

# name -> "module:Class"
FILTERS: dict[str, str] = {
    "heuristics": "filters.heuristics:HeuristicsFilter",
    "length": "filters.length:LengthFilter",
    "toxicity": "filters.toxicity:ToxicityFilter",
    "perplexity": "filters.perplexity:PerplexityFilter",
    "adherence": "filters.adherence:AdherenceFilter",
    "dedup": "filters.dedup:DedupFilter",
}


def filter_class(name: str) -> type[Filter]:
    if name not in FILTERS:
        raise InputError(f"unknown filter {name!r}: choose from {', '.join(FILTERS)}")
    module, attr = FILTERS[name].split(":")
    cls = getattr(importlib.import_module(module), attr)
    assert issubclass(cls, Filter) and cls.name == name, f"{FILTERS[name]} does not register as {name!r}"
    return cls


def settings_for(name: str, data: dict[str, Any] | None) -> Any:
    """Validate one filter's settings (unknown keys are errors naming the filter)."""
    return build(filter_class(name).Settings, dict(data or {}), f"filter settings for {name!r}")


def make_filter(name: str, data: dict[str, Any] | None = None) -> Filter:
    cls = filter_class(name)
    return cls(settings_for(name, data))
