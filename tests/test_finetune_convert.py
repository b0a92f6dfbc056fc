"""The training config and its pure conversions to BitsAndBytesConfig, LoraConfig and SFTConfig."""

from __future__ import annotations

import pytest
import torch

from datagen.config import load_config
from datagen.errors import InputError
from finetune.config import ATTENTION_MODULES, TrainConfig
from finetune.convert import (
    Hardware,
    get_peft_config,
    get_quantization_config,
    get_sft_config,
    grad_accumulation,
    optimizer,
    precision,
)

CPU_BF16 = Hardware(cuda=False, bf16=True)
CPU_FP32 = Hardware(cuda=False, bf16=False)
CUDA = Hardware(cuda=True, bf16=True)


def test_defaults_follow_the_design() -> None:
    cfg = TrainConfig(dataset="d")
    assert (cfg.method, cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout) == ("qlora", 16, 32, 0.05)
    assert (cfg.learning_rate, cfg.lr_scheduler_type, cfg.warmup_ratio, cfg.num_train_epochs) == (
        2e-4,
        "cosine",
        0.03,
        3.0,
    )
    assert cfg.effective_batch_size == 16 and cfg.gradient_checkpointing
    assert cfg.lora_targets() == list(ATTENTION_MODULES)
    assert TrainConfig(dataset="d", target_modules="all-linear").lora_targets() == "all-linear"


def test_dataset_reference_parsing() -> None:
    assert TrainConfig(dataset="mine").dataset_ref() == ("mine", None)
    assert TrainConfig(dataset="mine@3").dataset_ref() == ("mine", 3)
    with pytest.raises(InputError, match="must be a number"):
        TrainConfig(dataset="mine@x").dataset_ref()


def test_recipe_unknown_key_names_the_key_and_file(tmp_path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("train:\n  dataset: d\n  lora_rank: 8\n")
    with pytest.raises(InputError, match=r"unknown key 'lora_rank' in .*r\.yaml \(section 'train'\)"):
        load_config(TrainConfig, recipe, section="train")
    recipe.write_text("train:\n  dataset: d\n  lora_r: 8\n")
    cfg = load_config(TrainConfig, recipe, {"lora_r": 4, "method": None}, section="train")
    assert (cfg.lora_r, cfg.method) == (4, "qlora")


def test_quantization_config_qlora_nf4_double_quant() -> None:
    qc = get_quantization_config(TrainConfig(dataset="d"), CPU_BF16)
    assert qc.load_in_4bit and not qc.load_in_8bit
    assert qc.bnb_4bit_quant_type == "nf4" and qc.bnb_4bit_use_double_quant is True
    assert qc.bnb_4bit_compute_dtype == torch.bfloat16
    assert get_quantization_config(TrainConfig(dataset="d"), CPU_FP32).bnb_4bit_compute_dtype == torch.float32
    assert get_quantization_config(TrainConfig(dataset="d", method="lora"), CPU_BF16) is None


def test_peft_config() -> None:
    pc = get_peft_config(TrainConfig(dataset="d", lora_r=8, target_modules=["q_proj", "v_proj"]))
    assert (pc.r, pc.lora_alpha, pc.lora_dropout, pc.bias, pc.task_type) == (8, 32, 0.05, "none", "CAUSAL_LM")
    assert set(pc.target_modules) == {"q_proj", "v_proj"}
    assert set(get_peft_config(TrainConfig(dataset="d")).target_modules) == set(ATTENTION_MODULES)


def test_precision_and_optimizer_follow_hardware() -> None:
    q, lo = TrainConfig(dataset="d"), TrainConfig(dataset="d", method="lora")
    assert precision(q, CPU_BF16) == "bf16" and precision(q, CPU_FP32) == "fp32"
    assert precision(TrainConfig(dataset="d", precision="fp32"), CUDA) == "fp32"
    assert optimizer(q, CUDA) == "paged_adamw_32bit"
    assert optimizer(q, CPU_BF16) == "adamw_torch" and optimizer(lo, CUDA) == "adamw_torch"
    assert optimizer(TrainConfig(dataset="d", optim="sgd"), CUDA) == "sgd"


def test_sft_config_cpu() -> None:
    cfg = TrainConfig(dataset="d", per_device_train_batch_size=3)
    args = get_sft_config(cfg, "out", hw=CPU_BF16)
    assert grad_accumulation(cfg) == 6 and args.gradient_accumulation_steps == 6  # ceil(16 / 3)
    assert args.completion_only_loss is True and args.packing is False
    assert (args.bf16, args.fp16, args.use_cpu) == (True, False, True)
    assert args.lr_scheduler_type == "cosine" and args.warmup_steps == 0.03 and args.learning_rate == 2e-4
    assert args.eval_strategy == "epoch" and args.save_strategy == "epoch"
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_loss"
    assert args.greater_is_better is False and args.max_steps == -1 and args.max_length == 1024
    assert args.optim == "adamw_torch" and args.gradient_checkpointing


def test_sft_config_without_validation_split_has_no_eval_or_early_stop() -> None:
    args = get_sft_config(
        TrainConfig(dataset="d", eval_steps=5, max_steps=9), "out", has_eval=False, hw=CPU_FP32
    )
    assert args.eval_strategy == "no" and not args.load_best_model_at_end
    assert args.save_strategy == "steps" and args.save_steps == 5 and args.max_steps == 9
    assert args.bf16 is False and args.use_cpu
