"""The ``export`` command's config (light: pydantic only, so the command's flags load without the store)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from datagen.config import ConfigModel
from datagen.export import FORMATS


class ExportConfig(ConfigModel):
    """What ``datagen export`` writes (the pipeline builds one per format)."""

    dataset: str = Field(description="dataset NAME or NAME@VERSION")
    format: Literal["jsonl", "alpaca", "chatml", "hf"] = Field(description="output format")
    out: str | None = Field(
        default=None, description="output folder, new or empty (default exports/NAME-vN-FORMAT)"
    )
    version: int | None = Field(
        default=None, ge=1, description="dataset version (default: the latest, or NAME@VERSION)"
    )
    redact: bool = Field(
        default=False, description="replace found secrets and personal data with [REDACTED_<KIND>]"
    )
    chatml_text: bool = Field(default=False, description="ChatML: also write the rendered <|im_start|> text")

    @field_validator("format", mode="before")
    @classmethod
    def _known_format(cls, v: Any) -> Any:
        if v not in FORMATS:
            raise ValueError(f"unknown export format {v!r}: use one of {', '.join(FORMATS)}")
        return v
