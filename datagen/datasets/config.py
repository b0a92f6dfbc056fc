"""The ``dataset create`` configuration (a pipeline recipe's ``dataset`` section fills it 1:1)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from datagen.config import ConfigModel
from datagen.modelhub import MINILM

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class DatasetConfig(ConfigModel):
    """What to freeze (``run`` or ``source_dataset``, else every record), how to split, and the review gate."""

    name: str
    run: int | None = None
    source_dataset: str | None = None
    seed: int = 0
    splits: dict[str, float] = Field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    include_unreviewed: bool = True
    min_reviewed_fraction: float = Field(default=0.05, ge=0.0, le=1.0)
    acceptance_floor: float = Field(default=0.5, ge=0.0, le=1.0)
    force: bool = False
    require_human: bool = False  # the gate counts human decisions only (automatic ones are ignored)
    cluster_threshold: float = Field(default=0.9, gt=0.0, le=1.0)
    embedder: str = MINILM
    sticky_splits: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("a dataset name is letters, digits, '_', '.', '-' (at most 128)")
        return v

    @model_validator(mode="after")
    def _splits(self) -> DatasetConfig:
        if not self.splits or any(x < 0 for x in self.splits.values()):
            raise ValueError("splits must be non-negative fractions")
        if abs(sum(self.splits.values()) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must sum to 1, got {sum(self.splits.values())}")
        return self
