"""FilterConfig: which filters run, their settings, the keep policy and how records are selected."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from datagen.config import ConfigModel

DEFAULT_FILTERS = ["heuristics", "length", "toxicity", "perplexity", "adherence", "dedup"]


class FilterConfig(ConfigModel):
    """The ``filter`` command's config (and the ``filter`` section of a pipeline recipe).

    * ``filters``: names from ``filters.registry.FILTERS``; they run cheapest first whatever the order here.
    * ``settings``: per-filter settings, ``{name: {key: value}}``, validated by each filter's Settings.
    * ``policy``: ``all`` (default: a record is kept when every filter passes; later filters skip records an
      earlier one dropped), ``majority`` or ``any`` (every filter scores every record).
    * ``advisory``: filters whose verdicts are stored but do not count in the policy.
    * ``annotate_only``: score and store verdicts, never change a status.
    * ``rescore``: score again records that already have a verdict from the same filter version.
    * ``scope``: ``new`` (status generated), ``run`` (``run_id``'s records) or ``all`` (every filterable record).
    """

    filters: list[str] = Field(default_factory=lambda: list(DEFAULT_FILTERS))
    settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    policy: Literal["all", "majority", "any"] = "all"
    advisory: list[str] = Field(default_factory=list)
    annotate_only: bool = False
    rescore: bool = False
    batch_size: int = Field(256, ge=1)
    scope: Literal["new", "run", "all"] = "new"
    run_id: int | None = None
    limit: int | None = Field(None, ge=1)
    histogram_png: str | None = None

    @field_validator("filters")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        from filters.registry import FILTERS

        if not v:
            raise ValueError(f"no filter given; choose from {list(FILTERS)}")
        unknown = [n for n in v if n not in FILTERS]
        if unknown:
            raise ValueError(f"unknown filters {unknown}; choose from {list(FILTERS)}")
        if len(set(v)) != len(v):
            raise ValueError("a filter is listed twice")
        return v


def resolved_filter_config(cfg: FilterConfig) -> dict[str, Any]:
    """What a filter run stores: the config with each filter's settings filled with their defaults."""
    from filters.registry import settings_for

    data = cfg.model_dump(mode="json")
    data["settings"] = {n: settings_for(n, cfg.settings.get(n)).model_dump(mode="json") for n in cfg.filters}
    return data
