"""The configs of ``datagen generate self-instruct`` and ``datagen generate evol`` (one pydantic model each).

Sampling defaults follow the published code: Self-Instruct asks for new tasks with temperature 0.7 and
top_p 0.5 (1,024 tokens), and identifies classification tasks and writes instances greedily; Evol-Instruct
rewrites with temperature 1.0 (WizardLM's ``call_chatgpt``) and answers with the usual nucleus p=0.9.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from datagen.endpoint import ModelEndpoint
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

    @model_validator(mode="before")
    @classmethod
    def _partial_sampling(cls, data: Any) -> Any:
        """A recipe's or flag's ``sampling: {max_tokens: 512}`` changes that key only: the method's other
        sampling defaults stay (not ``SamplingParams``' generic ones)."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, field in cls.model_fields.items():
            if field.annotation is SamplingParams and isinstance(out.get(name), dict):
                default = field.get_default(call_default_factory=True)
                out[name] = {**default.model_dump(), **out[name]}
        return out


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
    sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.7, top_p=0.5, max_tokens=1024)
    )
    classify_sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.0, top_p=1.0, max_tokens=3)
    )
    instance_sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.0, top_p=1.0, max_tokens=350)
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
        default_factory=lambda: SamplingParams(temperature=1.0, top_p=0.95, max_tokens=2048)
    )
    answer_sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.7, top_p=0.9, max_tokens=2048)
    )
    judge_sampling: SamplingParams = Field(
        default_factory=lambda: SamplingParams(temperature=0.0, top_p=1.0, max_tokens=8)
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
