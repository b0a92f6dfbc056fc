"""FilterConfig: which filters run, their settings, the keep policy and how records are selected."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from datagen.ray_cluster import RayExecution

DEFAULT_FILTERS = ["heuristics", "length", "toxicity", "perplexity", "adherence", "dedup"]


class FilterConfig(RayExecution):
    """The ``filter`` command's config (and the ``filter`` section of a pipeline recipe).

    * ``filters``: names from ``filters.registry.FILTERS``; they run cheapest first whatever the order here.
    * ``settings``: per-filter settings, ``{name: {key: value}}``, validated by each filter's Settings.
    * ``policy``: ``all`` (default: a record is kept when every filter passes; later filters skip records an
      earlier one dropped), ``majority`` or ``any`` (every filter scores every record).
    * ``advisory``: filters whose verdicts are stored but do not count in the policy.
    * ``annotate_only``: score and store verdicts, never change a status.
    * ``rescore``: score again records that already have a verdict from the same filter version.
    * ``scope``: ``new`` (status generated), ``run`` (``run_id``'s records) or ``all`` (every filterable record).
    * ``executor``: ``local`` (this process) or ``ray`` (``filters.ray_executor``: actors score, this process
      writes).
    """

    filters: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FILTERS),
        description="filters to run (cheapest first whatever the order)",
    )
    settings: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-filter settings: NAME={key: value, ...}"
    )
    policy: Literal["all", "majority", "any"] = Field(
        default="all", description="which filters must pass to keep a record"
    )
    advisory: list[str] = Field(
        default_factory=list, description="filters whose verdicts do not count in the policy"
    )
    annotate_only: bool = Field(default=False, description="score and store verdicts; change no status")
    rescore: bool = Field(
        default=False, description="score again records already scored by the same filter version"
    )
    batch_size: int = Field(default=256, ge=1, description="records per batch (one transaction each)")
    scope: Literal["new", "run", "all"] = Field(
        default="new",
        description="new: status generated; run: the records of run_id; all: every filterable record",
    )
    run_id: int | None = Field(
        default=None, description="the run whose records are filtered (sets scope run)"
    )
    limit: int | None = Field(default=None, ge=1, description="filter at most this many records")
    ray_batch_size: int = Field(
        default=64, ge=1, description="executor ray: records per actor call (map_batches batch size)"
    )
    workers: int = Field(
        default=1,
        ge=1,
        description="processes sharing the run's batches: N-1 `datagen worker --run ID` start here "
        "(dedup and the statuses stay in this one, in id order)",
    )
    share_work: bool = Field(
        default=False,
        description="enqueue the batches for `datagen worker --run ID` on other machines (same database)",
    )
    histogram_png: str | None = Field(
        default="outputs/filter/{run_id}/histograms.png",
        description="histogram PNG path, by default in the run's output folder ({run_id} is filled in; "
        "empty: none)",
    )

    @model_validator(mode="before")
    @classmethod
    def _run_means_scope_run(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("run_id") is not None and "scope" not in data:
            return {**data, "scope": "run"}
        return data

    @model_validator(mode="after")
    def _scope_and_run(self) -> FilterConfig:
        if self.run_id is not None and self.scope != "run":
            raise ValueError(
                f"a run_id filters one run, not scope {self.scope!r}: use either --run ID or --all, not both"
            )
        return self

    @field_validator("histogram_png")
    @classmethod
    def _empty_is_none(cls, v: str | None) -> str | None:
        return v or None

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
