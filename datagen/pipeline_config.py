"""The pipeline recipe's config (light: pydantic only, so ``datagen pipeline --help`` does not load the store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field

from datagen.config import ConfigModel

ExportFormat = Literal["jsonl", "alpaca", "chatml", "hf"]


class PipelineConfig(ConfigModel):
    """A pipeline recipe: a few top-level keys, then one section per stage, each filled 1:1 into that stage's
    config (the same config its command reads: ``datagen filter --recipe PIPELINE.yaml`` uses ``filter``)."""

    name: str = Field(default="default", description="the dataset's name and the output folder's {name}")
    seeds: str = Field(default="builtin", description="seed task file, or builtin (the bundled seed tasks)")
    include_seeds: bool = Field(
        default=False, description="the seeds also pass the filters and review and may enter the dataset"
    )
    output_dir: str = Field(
        default="outputs/{name}", description="where exports, histograms and training write"
    )
    export_formats: list[ExportFormat] = Field(
        default_factory=lambda: list(get_args(ExportFormat)), description="export formats"
    )
    redact: bool = Field(default=False, description="exports replace found secrets with [REDACTED_<KIND>]")
    self_instruct: dict[str, Any] = Field(
        default_factory=dict, description="Self-Instruct section: KEY=VALUE"
    )
    evol: dict[str, Any] = Field(default_factory=dict, description="Evol-Instruct section: KEY=VALUE")
    filter: dict[str, Any] = Field(default_factory=dict, description="filter section: KEY=VALUE")
    review: dict[str, Any] = Field(default_factory=dict, description="review section: KEY=VALUE")
    dataset: dict[str, Any] = Field(default_factory=dict, description="dataset section: KEY=VALUE")
    train: dict[str, Any] = Field(default_factory=dict, description="train section: KEY=VALUE")
    score: dict[str, Any] = Field(default_factory=dict, description="score section: KEY=VALUE")

    def out(self) -> Path:
        return Path(self.output_dir.format(name=self.name)).resolve()
