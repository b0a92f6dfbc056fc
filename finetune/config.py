"""The training and scoring configs: flat, validated, filled 1:1 from a recipe section and overridden by flags.

Defaults come from the field (DESIGN.md): LoRA rank 16, alpha 32, dropout 0.05 on the attention projections
(``all-linear`` for reasoning-heavy data), learning rate 2e-4 with a cosine schedule and 3% warmup, 3 epochs,
an effective batch of 16, gradient checkpointing, bf16 where the hardware has it, NF4 with double quantization
for QLoRA and paged AdamW on CUDA, early stopping on the validation loss.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from datagen.config import ConfigModel
from datagen.modelhub import SMOLLM2
from datagen.providers.executor import ExecConfig

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


class TrainConfig(ConfigModel):
    """Everything ``datagen train`` needs; ``resolved(cfg)`` is stored on the run and the train run."""

    dataset: str = Field(description="NAME or NAME@VERSION (latest version when omitted)")
    base_model: str = SMOLLM2
    method: Literal["qlora", "lora"] = "qlora"
    system_prompt: str | None = None  # None: the chat template's own default
    max_length: int = Field(1024, ge=16)

    # LoRA
    lora_r: int = Field(16, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: Literal["attention", "all-linear"] | list[str] = "attention"

    # QLoRA quantization (bitsandbytes)
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = "nf4"
    bnb_4bit_use_double_quant: bool = True
    # TRL casts QLoRA adapters to bf16; at lr 2e-4 most bf16 updates round away (a measured 76% of lora_A
    # entries never moved in 4 steps), so the trainer keeps float32 master weights unless told otherwise.
    qlora_adapter_dtype: Literal["float32", "bfloat16"] = "float32"

    # optimisation
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler_type: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    num_train_epochs: float = Field(3.0, gt=0)
    max_steps: int | None = Field(None, ge=1)  # overrides epochs when set
    per_device_train_batch_size: int = Field(4, ge=1)
    effective_batch_size: int = Field(16, ge=1)  # gradient accumulation = ceil(effective / per-device)
    per_device_eval_batch_size: int = Field(8, ge=1)
    gradient_checkpointing: bool = True
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 where the hardware has it
    optim: str = "auto"  # auto: paged AdamW (32-bit) for QLoRA on CUDA, plain AdamW otherwise
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 42

    # evaluation, early stopping, checkpoints, logging
    eval_steps: int | None = Field(None, ge=1)  # evaluate and checkpoint every N steps; None: per epoch
    early_stopping_patience: int | None = Field(3, ge=1)  # evaluations without improvement; None: off
    save_total_limit: int = Field(2, ge=1)
    logging_steps: int = Field(1, ge=1)
    zero_grad_patience: int = Field(3, ge=1)  # logged steps in a row with grad norm 0 before the run fails

    output_root: str = "outputs/train"  # each train run writes to <output_root>/<train_run_id>
    merge: bool = False  # also write a merged model (QLoRA: onto the unquantized base)
    resume: bool = False  # continue the latest unfinished run with the same config from its last checkpoint

    def dataset_ref(self) -> tuple[str, int | None]:
        from datagen.review.scope import split_ref

        return split_ref(self.dataset)

    def lora_targets(self) -> list[str] | str:
        if self.target_modules == "attention":
            return list(ATTENTION_MODULES)
        return self.target_modules


class ScoreConfig(ConfigModel):
    """Everything ``datagen score`` needs: which train run, how many held-out examples, which judge."""

    train_run: int = Field(ge=1)
    split: Literal["test", "validation", "train"] = "test"
    max_examples: int | None = Field(50, ge=1)  # None: the whole split
    max_new_tokens: int = Field(128, ge=1)
    batch_size: int = Field(8, ge=1)
    dtype: str = "float32"  # compute dtype for perplexity and generation (perplexity thresholds follow it)
    judge: str = SMOLLM2  # a local model (alias, path or hub id) judged by the probability of "A" vs "B"
    judge_provider: str | None = None  # e.g. "openai": judge through datagen.providers instead
    judge_model: str | None = None  # the provider's model name (None: the provider's default)
    judge_options: dict[str, Any] = Field(default_factory=dict)  # the provider's options (validated by it)
    judge_exec: ExecConfig = Field(default_factory=ExecConfig)  # cache, retries, rate limits, budget
    seed: int = 0
    report: bool = True  # write report.md with charts next to the adapter
