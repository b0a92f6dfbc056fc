"""The ``import`` command's config (light: pydantic only, so the command's flags load without the store)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from datagen.config import ConfigModel


class ImportConfig(ConfigModel):
    """What ``datagen import`` reads, and how strictly."""

    path: str = Field(description="the file to import")
    format: Literal["auto", "self-instruct", "jsonl", "alpaca", "chatml", "sharegpt"] = Field(
        default="auto", description="file format (auto: detected from the file)"
    )
    skip_invalid: bool = Field(default=False, description="import the valid lines; report every skipped one")
    max_line_bytes: int = Field(default=4 * 1024 * 1024, gt=0, description="longest line read, in bytes")
    namespace: str | None = Field(
        default=None,
        description="records are keyed by content; a namespace makes a separate copy (a pipeline's seeds)",
    )
