"""Pure conversions from a ``TrainConfig`` to library objects (quantization, LoRA, SFT settings).

They read no files and touch no model, so they are tested directly. The hardware is passed in (``Hardware``)
rather than sniffed inside, so a test can ask what a CUDA machine would get.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finetune.config import TrainConfig


@dataclass(frozen=True)
class Hardware:
    """Where training runs: on CUDA or the CPU, and whether that device computes in bf16 (CUDA compute
    capability 8+, or a CPU with AVX-512 bf16)."""

    cuda: bool
    bf16: bool

    @property
    def device(self) -> str:
        return "cuda" if self.cuda else "cpu"

    @staticmethod
    def detect(device: str = "auto") -> Hardware:
        """The hardware a ``TrainConfig.device`` setting means here (``datagen.lm.device``): ``auto`` takes CUDA
        when present; one CUDA device (``cuda``; for another one set ``CUDA_VISIBLE_DEVICES``) or the CPU."""
        from datagen.errors import InputError
        from datagen.lm import resolve_device, resolve_dtype

        if device == "mps" or (device.startswith("cuda:") and device != "cuda:0"):
            raise InputError(
                f"train device {device!r}: training runs on cuda (one device; choose it with "
                "CUDA_VISIBLE_DEVICES=N) or cpu"
            )
        where = resolve_device(device)
        if where == "mps":  # auto on a Mac: the Trainer's MPS support is not tested here
            where = "cpu"
        return Hardware(cuda=where.startswith("cuda"), bf16=resolve_dtype("auto", where) == "bfloat16")


def precision(cfg: TrainConfig, hw: Hardware) -> str:
    """The training precision: ``bf16``, ``fp16`` or ``fp32``. ``auto`` follows ``datagen.lm.device``'s rule:
    bf16 where the device computes in it, else fp16 on CUDA (V100, T4), else fp32."""
    if cfg.precision == "auto":
        return "bf16" if hw.bf16 else ("fp16" if hw.cuda else "fp32")
    return cfg.precision


def compute_dtype(cfg: TrainConfig, hw: Hardware) -> Any:
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[precision(cfg, hw)]


def optimizer(cfg: TrainConfig, hw: Hardware) -> str:
    """Paged AdamW for QLoRA on CUDA (pages optimizer state out under memory spikes); plain AdamW elsewhere."""
    if cfg.optim != "auto":
        return cfg.optim
    return "paged_adamw_32bit" if cfg.method == "qlora" and hw.cuda else "adamw_torch"


def grad_accumulation(cfg: TrainConfig, world_size: int = 1) -> int:
    """Steps to accumulate so that one optimizer step sees ``effective_batch_size`` examples over all the
    processes that train together (each takes ``per_device_train_batch_size`` per step)."""
    return max(1, math.ceil(cfg.effective_batch_size / (cfg.per_device_train_batch_size * world_size)))


@contextmanager
def quiet_renames() -> Iterator[None]:
    """Silence transformers 5's rename notices for TRL's own ``gradient_checkpointing*`` fields and calls.

    TRL 1.16 sets and calls the old names itself; the notice is not about anything a caller can change.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`(is_)?gradient_checkpointing\w*` is deprecated", FutureWarning)
        yield


def get_quantization_config(cfg: TrainConfig, hw: Hardware | None = None) -> Any:
    """4-bit NF4 with double quantization for QLoRA; ``None`` for plain LoRA (the base loads unquantized)."""
    if cfg.method != "qlora":
        return None
    from transformers import BitsAndBytesConfig

    hw = hw or Hardware.detect()
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=cfg.bnb_4bit_quant_type,
        bnb_4bit_use_double_quant=cfg.bnb_4bit_use_double_quant,
        bnb_4bit_compute_dtype=compute_dtype(cfg, hw),
    )


def get_peft_config(cfg: TrainConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=cfg.lora_targets(),
        bias="none",
        task_type="CAUSAL_LM",
    )


def get_sft_config(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    has_eval: bool = True,
    hw: Hardware | None = None,
    world_size: int = 1,
) -> Any:
    """TRL ``SFTConfig``: loss on the completion (assistant) tokens only, eval + checkpoints in step;
    ``world_size`` processes (DDP) share each optimizer step's ``effective_batch_size``."""

    hw = hw or Hardware.detect()
    with quiet_renames():
        return _sft_config(cfg, out_dir, has_eval, hw, world_size)


def _sft_config(cfg: TrainConfig, out_dir: str | Path, has_eval: bool, hw: Hardware, world_size: int) -> Any:
    from trl import SFTConfig

    prec = precision(cfg, hw)
    every = "steps" if cfg.eval_steps else "epoch"  # checkpoints follow evaluations (best model, resume)
    early = has_eval and cfg.early_stopping_patience is not None
    return SFTConfig(
        output_dir=str(out_dir),
        seed=cfg.seed,
        data_seed=cfg.seed,
        max_length=cfg.max_length,
        completion_only_loss=True,
        packing=False,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_eval_batch_size,
        gradient_accumulation_steps=grad_accumulation(cfg, world_size),
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # a float below 1 is a ratio of the total steps (transformers 5)
        num_train_epochs=cfg.num_train_epochs,
        max_steps=cfg.max_steps or -1,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        optim=optimizer(cfg, hw),
        gradient_checkpointing=cfg.gradient_checkpointing,
        gradient_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
        bf16=prec == "bf16",
        fp16=prec == "fp16",
        use_cpu=not hw.cuda,
        dataloader_pin_memory=hw.cuda,
        ddp_find_unused_parameters=False,  # every LoRA weight gets a gradient: no graph search per step
        eval_strategy=every if has_eval else "no",
        eval_steps=cfg.eval_steps,
        save_strategy=every,
        save_steps=cfg.eval_steps or 500,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=early,
        metric_for_best_model="eval_loss" if early else None,
        greater_is_better=False if early else None,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,  # progress goes to stderr through finetune.callbacks.StderrProgress
    )
