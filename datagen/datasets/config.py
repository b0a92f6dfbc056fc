"""The ``dataset create`` configuration (a pipeline recipe's ``dataset`` section fills it 1:1)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator

from datagen.config import ConfigModel
from datagen.endpoint import Device
from datagen.modelhub import MINILM

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class DatasetConfig(ConfigModel):
    """What to freeze (``run`` or ``source_dataset``, else every record), how to split, and the review gate."""

    name: str = Field(description="the dataset's name; each create adds its next version")
    run: int | None = Field(default=None, description="freeze the records of this run (and its child runs)")
    source_dataset: str | None = Field(
        default=None, description="freeze from a dataset version (NAME or NAME@VERSION)"
    )
    seed: int = Field(default=0, description="split seed")
    splits: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1},
        description="split name -> fraction (they sum to 1)",
    )
    include_unreviewed: bool = Field(
        default=True,
        description="also freeze kept records no reviewer decided (off: only accepted or edited ones)",
    )
    min_reviewed_fraction: float = Field(
        default=0.05, ge=0.0, le=1.0, description="gate: minimum reviewed fraction"
    )
    acceptance_floor: float = Field(
        default=0.5, ge=0.0, le=1.0, description="gate: minimum Wilson 95% lower bound of the acceptance rate"
    )
    force: bool = Field(
        default=False, description="create even when the review gate fails (recorded on the dataset)"
    )
    uncurated: bool = Field(
        default=False,
        description="freeze the same records before curation: every record of the scope as generated, "
        "whatever the filters and reviewers decided (no edits; parse failures and records without an answer "
        "left out; the gate is reported, not enforced): the counterpart `datagen compare` measures curation with",
    )
    require_human: bool = Field(
        default=False, description="the gate counts human decisions only, not automatic ones"
    )
    without_filters: list[str] = Field(
        default_factory=list,
        description="ablation: also freeze records that only these filters dropped (as if they had not run)",
    )
    without_operations: list[str] = Field(
        default_factory=list,
        description="ablation: leave out records made by these Evol-Instruct operations (e.g. deepening)",
    )
    cluster_threshold: float = Field(
        default=0.9,
        gt=0.0,
        le=1.0,
        description="cosine similarity that puts records in one cluster (one split)",
    )
    embedder: str = Field(default=MINILM, description="embedding model for clusters (alias, path or hub id)")
    device: Device = Field(
        default="auto",
        description="the embedder's device: auto (CUDA, else MPS, else CPU), cpu, cuda:N or mps",
    )
    sticky_splits: bool = Field(
        default=True,
        description="records of the previous version keep their split (no leaks between versions)",
    )

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
