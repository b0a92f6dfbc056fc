"""The training and scoring configs: flat, validated, filled 1:1 from a recipe section and overridden by flags.

Defaults are the usual LoRA/QLoRA choices: LoRA rank 16, alpha 32, dropout 0.05 on the attention projections
(``all-linear`` for reasoning-heavy data), learning rate 2e-4 with a cosine schedule and 3% warmup, 3 epochs,
an effective batch of 16, gradient checkpointing, bf16 where the hardware has it, NF4 with double quantization
for QLoRA and paged AdamW on CUDA, early stopping on the validation loss.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from datagen.config import ConfigModel
from datagen.endpoint import Device, DType, ModelEndpoint, local_endpoint
from datagen.modelhub import MINILM, SMOLLM2

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")


class TrainConfig(ConfigModel):
    """Everything ``datagen train`` needs; ``resolved(cfg)`` is stored on the run and the train run."""

    dataset: str = Field(description="NAME or NAME@VERSION (latest version when omitted)")
    base_model: str = Field(default=SMOLLM2, description="base model: alias, local path or Hugging Face id")
    method: Literal["qlora", "lora"] = Field(
        default="qlora", description="QLoRA (4-bit NF4 base) or plain LoRA"
    )
    system_prompt: str | None = Field(
        default=None, description="system prompt of every example (none: the template's)"
    )
    max_length: int = Field(
        default=1024, ge=16, description="token limit per example (longer ones are truncated)"
    )

    # LoRA
    lora_r: int = Field(default=16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(default=32, ge=1, description="LoRA alpha")
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0, description="LoRA dropout")
    target_modules: Literal["attention", "all-linear"] | list[str] = Field(
        default="attention",
        description="LoRA targets: attention (q/k/v/o), all-linear, or a list of module names",
    )

    # QLoRA quantization (bitsandbytes)
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = Field(
        default="nf4", description="QLoRA: 4-bit quantization type"
    )
    bnb_4bit_use_double_quant: bool = Field(default=True, description="QLoRA: double quantization")
    # TRL casts QLoRA adapters to bf16; at lr 2e-4 most bf16 updates round away (a measured 76% of lora_A
    # entries never moved in 4 steps), so the trainer keeps float32 master weights unless told otherwise.
    qlora_adapter_dtype: Literal["float32", "bfloat16"] = Field(
        default="float32", description="QLoRA: dtype of the adapter's master weights"
    )

    # optimisation
    learning_rate: float = Field(default=2e-4, gt=0, description="peak learning rate")
    lr_scheduler_type: str = Field(
        default="cosine", description="learning-rate schedule (transformers' names)"
    )
    warmup_ratio: float = Field(
        default=0.03, ge=0.0, lt=1.0, description="fraction of steps spent warming up"
    )
    num_train_epochs: float = Field(default=3.0, gt=0, description="training epochs")
    max_steps: int | None = Field(
        default=None, ge=1, description="stop after this many optimizer steps (overrides epochs)"
    )
    per_device_train_batch_size: int = Field(default=4, ge=1, description="per-device training batch size")
    effective_batch_size: int = Field(
        default=16,
        ge=1,
        description="batch size after gradient accumulation (accumulation = ceil(this / per-device))",
    )
    per_device_eval_batch_size: int = Field(default=8, ge=1, description="per-device evaluation batch size")
    gradient_checkpointing: bool = Field(default=True, description="recompute activations to save memory")
    device: Device = Field(
        default="auto",
        description="training device: auto (CUDA when present, else CPU), cuda (one device: choose it with "
        "CUDA_VISIBLE_DEVICES) or cpu",
    )
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        default="auto", description="training precision (auto: bf16 where the hardware has it)"
    )
    optim: str = Field(
        default="auto",
        description="optimizer (auto: paged AdamW 32-bit for QLoRA on CUDA, plain AdamW otherwise)",
    )
    weight_decay: float = Field(default=0.0, ge=0.0, description="weight decay")
    max_grad_norm: float = Field(default=1.0, gt=0, description="gradient clipping norm")
    seed: int = Field(default=42, description="training seed (also of the --max-train-tokens subsample)")
    max_train_tokens: int | None = Field(
        default=None,
        ge=1,
        description="train on a seeded subsample of the train split of at most this many tokens (prompt + "
        "answer as the chat template renders them; none: the whole split); `datagen compare` sets it so "
        "datasets are compared at the same token budget",
    )

    # evaluation, early stopping, checkpoints, logging
    eval_steps: int | None = Field(
        default=None, ge=1, description="evaluate and checkpoint every N steps (none: every epoch)"
    )
    early_stopping_patience: int | None = Field(
        default=3, ge=1, description="evaluations without improvement before stopping (none: off)"
    )
    save_total_limit: int = Field(default=2, ge=1, description="checkpoints kept")
    logging_steps: int = Field(default=1, ge=1, description="log loss and grad norm every N steps")
    zero_grad_patience: int = Field(
        default=3, ge=1, description="logged steps in a row with grad norm 0 before the run fails"
    )

    output_root: str = Field(
        default="outputs/train", description="each train run writes to OUTPUT_ROOT/<train run id>"
    )
    merge: bool = Field(
        default=False, description="also write a merged model (QLoRA: onto the unquantized base)"
    )
    resume: bool = Field(
        default=False,
        description="continue the latest unfinished run with this config from its last checkpoint",
    )

    def dataset_ref(self) -> tuple[str, int | None]:
        from datagen.datasets.ref import split_ref

        return split_ref(self.dataset)

    def lora_targets(self) -> list[str] | str:
        if self.target_modules == "attention":
            return list(ATTENTION_MODULES)
        return self.target_modules


class ScoreConfig(ConfigModel):
    """Everything ``datagen score`` needs: which train run, which evaluation set, how many items, which judge."""

    train_run: int = Field(ge=1, description="the train run whose adapter is scored (see `datagen runs`)")
    eval: str | None = Field(
        default=None,
        description="evaluation set: builtin (132 held-out tasks with references), a file of tasks "
        "(Self-Instruct, JSONL, Alpaca or ChatML, validated like `datagen import`), or "
        "dataset:NAME[@VERSION][:SPLIT] (none: the train run's dataset, its --split)",
    )
    split: Literal["test", "validation", "train"] = Field(
        default="test", description="the split of the train run's dataset scored on when --eval is not given"
    )
    decontaminate: bool = Field(
        default=False, description="drop the eval items that overlap the training data before scoring"
    )
    overlap_threshold: float = Field(
        default=0.9,
        gt=0.0,
        le=1.0,
        description="an eval item overlaps the training data at this prompt-embedding cosine (or the same text)",
    )
    embedder: str = Field(
        default=MINILM, description="embedding model of the overlap check and the embedding similarity"
    )
    max_examples: int | None = Field(
        default=None, ge=1, description="score a seeded sample of this many items (none: every item)"
    )
    max_new_tokens: int = Field(default=128, ge=1, description="longest generated answer, in tokens")
    batch_size: int = Field(
        default=8, ge=1, description="examples per forward (perplexity, generation, judge)"
    )
    dtype: DType = Field(
        default="float32",
        description="compute dtype of base and tuned models for perplexity and generation "
        "(perplexities are comparable within one dtype)",
    )
    device: Device = Field(
        default="auto",
        description="device of base and tuned models: auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N or mps",
    )
    judge: ModelEndpoint = Field(
        default_factory=lambda: ModelEndpoint(provider="local", model=SMOLLM2),
        description="the pairwise judge: a local model (picks by P('A') vs P('B')) or a provider's model "
        "(asked for one letter through the executor); a plain string is a local model",
    )
    use_judge: bool = Field(
        default=True,
        description="run the pairwise judge: its sanity check first, the win-rate only when it passes",
    )
    judge_min_agreement: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="sanity check: least share of judgments preferring the reference over a shuffled answer",
    )
    judge_min_consistency: float = Field(
        default=0.75,
        ge=0.0,
        le=1.0,
        description="sanity check: least share of clear-cut pairs judged the same with positions swapped",
    )
    bootstrap_rounds: int = Field(
        default=2000, ge=100, description="resamples of the paired bootstrap intervals"
    )
    seed: int = Field(default=0, description="seed of the item sample, the shuffled pairs and the bootstrap")
    report: bool = Field(default=True, description="write report.md with charts next to the adapter")

    @field_validator("judge", mode="before")
    @classmethod
    def _model_name_is_local(cls, v: Any) -> Any:
        return local_endpoint(v)


class CompareConfig(ConfigModel):
    """Everything ``datagen compare`` needs: the dataset versions, the training settings they share (base model,
    seeds, steps, token budget) and the eval set they are all scored on."""

    datasets: list[str] = Field(
        min_length=2,
        description="dataset versions to compare, NAME[@VERSION]; the first is the reference the others are "
        "compared with (e.g. the uncurated counterpart, then the curated version)",
    )
    eval: str = Field(
        default="builtin", description="evaluation set every version is scored on (as `datagen score --eval`)"
    )
    repeats: int = Field(
        default=1, ge=1, description="train and score every version with this many seeds (seed, seed+1, ...)"
    )
    seed: int = Field(default=42, description="first training seed (also of the token-budget subsample)")
    max_train_tokens: int | None = Field(
        default=None,
        ge=1,
        description="training tokens of every version (none: the smallest version's train split; larger "
        "versions are subsampled to it, seeded)",
    )
    base_model: str = Field(default=SMOLLM2, description="base model of every training run")
    method: Literal["qlora", "lora"] = Field(default="lora", description="QLoRA or plain LoRA")
    max_steps: int = Field(default=30, ge=1, description="optimizer steps of every training run")
    learning_rate: float = Field(default=2e-4, gt=0, description="peak learning rate")
    batch_size: int = Field(default=4, ge=1, description="training batch size (no accumulation)")
    max_length: int = Field(default=512, ge=16, description="token limit per training example")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        default="auto", description="training precision (auto: bf16 where the hardware has it)"
    )
    max_examples: int | None = Field(
        default=None, ge=1, description="score a seeded sample of this many eval items (none: all)"
    )
    max_new_tokens: int = Field(default=48, ge=1, description="longest generated answer, in tokens")
    score_batch_size: int = Field(default=16, ge=1, description="examples per forward when scoring")
    dtype: DType = Field(
        default="bfloat16", description="compute dtype of base and tuned models when scoring (one for all)"
    )
    decontaminate: bool = Field(
        default=False,
        description="drop eval items overlapping a version's training data (then only the "
        "items every version kept are compared)",
    )
    use_judge: bool = Field(
        default=False, description="also run the pairwise judge on every score (its sanity check first)"
    )
    bootstrap_rounds: int = Field(default=2000, ge=100, description="resamples of the paired bootstrap")
    output_root: str = Field(
        default="outputs/compare", description="each compare run writes to OUTPUT_ROOT/<run id>"
    )
