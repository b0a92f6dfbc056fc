"""The review command's configuration (one class; a pipeline recipe's ``review`` section fills it 1:1)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from datagen.config import ConfigModel


class ReviewConfig(ConfigModel):
    """How a review sample is drawn and who decides.

    ``fraction`` of the kept records (at least ``min_count``, at most all of them), stratified by method,
    operation and a bucket of one filter's score (``score_filter``: a filter name, ``auto`` = the filter with a
    score on most records, or ``none``); plus ``filtered_fraction`` of the filtered-out records, so the
    statistics can measure what the filters drop wrongly.
    """

    seed: int = 0
    fraction: float = Field(default=0.05, gt=0.0, le=1.0)
    min_count: int = Field(default=20, ge=1)
    filtered_fraction: float = Field(default=0.02, ge=0.0, le=1.0)
    score_filter: str = "auto"
    buckets: int = Field(default=3, ge=1, le=10)
    mode: Literal["human", "auto"] = "human"
    reviewer: str | None = None
