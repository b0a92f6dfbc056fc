"""The configs of ``datagen generate self-instruct`` and ``datagen generate evol`` (one pydantic model each).

Sampling defaults follow the published code, per prompt kind (``datagen.generation.published`` says where
each comes from and where this project differs). A provider with ``default_max_tokens`` (local: 256) caps the
default lengths; a length the recipe or a flag sets is kept.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from datagen.endpoint import ModelEndpoint
from datagen.errors import InputError
from datagen.generation import published
from datagen.providers.base import SamplingParams
from datagen.statuses import RECORD_STATUSES

OPERATIONS = (
    "add_constraints",
    "deepening",
    "concretizing",
    "increase_reasoning",
    "complicate_input",
    "breadth",
)


class TeacherConfig(ModelEndpoint):
    """Which model answers, and how requests run (shared by both methods): a ``ModelEndpoint`` kept flat at
    the top of the config (``provider``, ``model``, ``options``, ``exec``, ``dtype``, ``device``), plus the
    run's seed."""

    seed: int = Field(0, description="seed of this run's random.Random (and of sampling, where supported)")
    templates_dir: str | None = Field(
        default=None,
        description="a folder laid out like prompts/ (self_instruct/*.j2, evol_instruct/*.j2) whose templates "
        "replace the built-in ones of the same name (e.g. the published prompts); the rest stay built in. "
        "Every record stores the sha256 of each template it came from",
    )

    @model_validator(mode="before")
    @classmethod
    def _partial_sampling(cls, data: Any) -> Any:
        """A recipe's or flag's ``sampling: {max_tokens: 512}`` changes that key only: the method's other
        sampling defaults stay (not ``SamplingParams``' generic ones). A provider's ``default_max_tokens``
        caps the default lengths it is not given."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        cap = _length_cap(out.get("provider", "local"))
        for name, field in cls.model_fields.items():
            given = out.get(name)
            if field.annotation is not SamplingParams or not isinstance(given, dict | None):
                continue
            default = field.get_default(call_default_factory=True).model_dump()
            if cap and "max_tokens" not in (given or {}):
                default["max_tokens"] = min(default["max_tokens"], cap)
            out[name] = {**default, **(given or {})}
        return out


def _length_cap(provider: Any) -> int | None:
    """The provider's cap on default lengths (None: none, or not a provider this config can name yet)."""
    from datagen.providers.registry import provider_class

    try:
        return provider_class(str(provider)).default_max_tokens
    except InputError:
        return None


class SelfInstructConfig(TeacherConfig):
    seeds: str | None = Field(None, description="seed task file (Self-Instruct format or plain JSONL)")
    n: int = Field(
        100, ge=1, description="stop after the step in which this many new instructions were accepted"
    )
    prompt_tasks: int = Field(8, ge=1, description="tasks shown per prompt")
    prompt_machine_tasks: int = Field(2, ge=0, description="of which machine-generated, once available")
    prompts_per_step: int = Field(8, ge=1, description="generation prompts sent together per step")
    max_steps: int | None = Field(
        None, ge=1, description="stop after this many steps (None: 2 + 3 ceil(n / prompts_per_step))"
    )
    rouge_threshold: float = Field(0.7, description="reject when ROUGE-L F1 > this against any instruction")
    top_similar: int = Field(10, ge=0, description="most similar instructions kept on each record")
    max_instances: int = Field(5, ge=1, description="instances kept per task (a seeded random sample)")
    blacklist: Literal["self_instruct", "alpaca"] = Field(
        default="alpaca",
        description="non-text words that reject an instruction: self_instruct = the paper's 13 "
        "(bootstrap_instructions.py), alpaca = those plus video, audio, music, flowchart, diagram",
    )
    truncated_reply: Literal["self_instruct", "alpaca"] = Field(
        default="self_instruct",
        description="a task list cut by the length limit: self_instruct = reject all its tasks "
        "(bootstrap_instructions.py), alpaca = reject only its last task (generate_instruction.py)",
    )
    sampling: SamplingParams = Field(default_factory=published.tasks, description=published.TASKS)
    classify_sampling: SamplingParams = Field(
        default_factory=published.classify, description=published.CLASSIFY
    )
    instance_sampling: SamplingParams = Field(
        default_factory=published.instances, description=published.INSTANCES
    )


class EvolConfig(TeacherConfig):
    source: str = Field(
        "status:candidate", description="run:ID | status:STATUS | method:METHOD, or several joined by commas"
    )
    limit: int | None = Field(None, ge=1, description="take at most this many source records (lowest ids)")
    rounds: int = Field(4, ge=1, description="M rounds of evolution")
    weights: dict[str, float] = Field(
        default_factory=lambda: dict.fromkeys(OPERATIONS, 1.0), description="operation -> weight"
    )
    min_answer_words: int = Field(80, description="an answer with 'sorry' under this many words fails")
    sampling: SamplingParams = Field(
        default_factory=published.evol_rewrite, description=published.EVOL_REWRITE
    )
    answer_sampling: SamplingParams = Field(
        default_factory=published.evol_answer, description=published.EVOL_ANSWER
    )
    judge_sampling: SamplingParams = Field(
        default_factory=published.evol_judge, description=published.EVOL_JUDGE
    )

    @field_validator("weights")
    @classmethod
    def _known_positive_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(OPERATIONS))
        if unknown:
            raise ValueError(f"unknown evol operation(s) {unknown}: choose from {', '.join(OPERATIONS)}")
        if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
            raise ValueError("evol weights must be >= 0 with at least one > 0")
        return weights

    @field_validator("source")
    @classmethod
    def _source_syntax(cls, source: str) -> str:
        parse_source(source)
        return source


def parse_source(source: str) -> list[tuple[str, str]]:
    """``run:ID``, ``status:S`` or ``method:M`` parts of an evol source, as (kind, value) pairs."""
    parts = []
    for part in source.split(","):
        kind, _, value = part.strip().partition(":")
        if not ((kind == "run" and value.isdigit()) or (kind in ("status", "method") and value)):
            raise ValueError(
                f"source {source!r}: expected run:ID, status:STATUS or method:METHOD (comma-separated)"
            )
        if kind == "status" and value not in RECORD_STATUSES:
            raise ValueError(
                f"source {source!r}: unknown status {value!r} (one of {', '.join(RECORD_STATUSES)})"
            )
        parts.append((kind, value))
    return parts
