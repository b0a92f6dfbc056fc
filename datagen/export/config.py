"""The ``export`` command's config (light: pydantic only, so the command's flags load without the store)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from datagen.config import ConfigModel
from datagen.export import FORMATS


class ExportConfig(ConfigModel):
    """What ``datagen export`` writes (the pipeline builds one per format)."""

    dataset: str = Field(description="dataset NAME or NAME@VERSION")
    format: Literal["jsonl", "alpaca", "chatml", "prompt-completion", "hf"] = Field(
        description="output format (prompt-completion: TRL's conversational prompt/completion rows)"
    )
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
    system_prompt: str | None = Field(
        default=None,
        description="a system message opening every conversation (chatml, prompt-completion and hf messages)",
    )
    chat_template: str | None = Field(
        default=None,
        description="also write a `text` column rendered with this model's chat template (a model alias, "
        "path or Hub id, e.g. smollm2-135m-instruct; chatml, prompt-completion and hf)",
    )
    license: str = Field(
        default="other",
        description="the card's license, a Hub license id (apache-2.0, cc-by-4.0, ...); the card lists the "
        "teachers' terms, which bind the data whatever this says",
    )
    language: list[str] = Field(default=["en"], description="the card's languages (ISO 639-1 codes)")
    pretty_name: str | None = Field(default=None, description="the card's title (default: NAME (version N))")
    push_to_hub: str | None = Field(
        default=None,
        description="then upload the folder to this Hub dataset repo (OWNER/NAME) with huggingface_hub "
        "(token: HF_TOKEN or `hf auth login`; refused while the secret scan finds something not redacted)",
    )
    private: bool = Field(default=False, description="--push-to-hub: create the repo private")

    @model_validator(mode="after")
    def _one_text(self) -> ExportConfig:
        if self.chatml_text and self.chat_template:
            raise ValueError("chatml_text and chat_template both write `text`: choose one")
        if self.private and not self.push_to_hub:
            raise ValueError(
                "private applies to the repo --push-to-hub creates: give --push-to-hub OWNER/NAME"
            )
        return self

    @field_validator("format", mode="before")
    @classmethod
    def _known_format(cls, v: Any) -> Any:
        if v not in FORMATS:
            raise ValueError(f"unknown export format {v!r}: use one of {', '.join(FORMATS)}")
        return v
