"""The review command's configuration (one class; a pipeline recipe's ``review`` section fills it 1:1)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from datagen.config import ConfigModel


class ReviewConfig(ConfigModel):
    """What is reviewed, how the sample is drawn and who decides.

    ``fraction`` of the kept records (at least ``min_count``, at most all of them), stratified by method,
    operation and a bucket of one filter's score (``score_filter``: a filter name, ``auto`` = the filter with a
    score on most records, or ``none``); plus ``filtered_fraction`` of the filtered-out records, so the
    statistics can measure what the filters drop wrongly.
    """

    run: int | None = Field(default=None, description="review the records of this run (and its child runs)")
    dataset: str | None = Field(default=None, description="review a dataset version (NAME or NAME@VERSION)")
    sample: int | None = Field(
        default=None, description="an existing review sample id (else the scope's latest)"
    )
    new_sample: bool = Field(default=False, description="draw a new sample even if one exists for this scope")
    seed: int = Field(default=0, description="sampling seed")
    fraction: float = Field(default=0.05, gt=0.0, le=1.0, description="fraction of kept records to sample")
    min_count: int = Field(
        default=20, ge=1, description="at least this many items (at most all kept records)"
    )
    filtered_fraction: float = Field(
        default=0.02, ge=0.0, le=1.0, description="fraction of filtered-out records added to the sample"
    )
    score_filter: str = Field(
        default="auto", description="filter whose score buckets the strata: a filter name, auto or none"
    )
    buckets: int = Field(default=3, ge=1, le=10, description="score buckets per stratum")
    mode: Literal["human", "auto"] = Field(
        default="human",
        description="human: decide in the terminal or on a sheet; auto: automatic, recorded as not human",
    )
    reviewer: str | None = Field(
        default=None, description="your name (else DATAGEN_REVIEWER, git user.name, login)"
    )
    sheet: str | None = Field(
        default=None,
        description="write the sample as a sheet (.jsonl or .csv) to decide offline, not the terminal UI",
    )
