"""``datagen train``: fine-tune a LoRA/QLoRA adapter on a dataset version (thin over ``finetune.trainer``)."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import echo_json, json_option, store_from


@click.command("train")
@click.option("--dataset", help="NAME or NAME@VERSION (latest version when omitted).")
@click.option("--recipe", help="YAML recipe (a TrainConfig, or a pipeline recipe with a 'train' section).")
@click.option(
    "--method", type=click.Choice(["qlora", "lora"]), help="QLoRA (4-bit NF4 base, default) or LoRA."
)
@click.option("--base-model", help="Base model: alias, local path or Hugging Face id (default SmolLM2-135M).")
@click.option(
    "--merge", is_flag=True, default=None, help="Also write a merged model (QLoRA: onto the full base)."
)
@click.option(
    "--resume", is_flag=True, default=None, help="Continue the latest unfinished run with this config."
)
@click.option("--max-steps", type=int, help="Stop after this many optimizer steps (overrides epochs).")
@click.option("--epochs", type=float, help="Training epochs (default 3).")
@click.option("--lr", type=float, help="Learning rate (default 2e-4).")
@click.option("--lora-r", type=int, help="LoRA rank (default 16; alpha stays as configured).")
@click.option("--target-modules", type=click.Choice(["attention", "all-linear"]), help="LoRA targets.")
@click.option("--batch-size", type=int, help="Per-device batch size (default 4).")
@click.option("--effective-batch-size", type=int, help="Batch size after gradient accumulation (default 16).")
@click.option(
    "--max-length", type=int, help="Token limit per example (longer ones are truncated, and counted)."
)
@click.option(
    "--precision", type=click.Choice(["auto", "bf16", "fp16", "fp32"]), help="Default: from hardware."
)
@click.option("--eval-steps", type=int, help="Evaluate and checkpoint every N steps (default: every epoch).")
@click.option("--output-root", help="Where train runs write (default outputs/train/<train run id>).")
@json_option
@click.pass_context
def train_cmd(
    ctx: click.Context,
    dataset: str | None,
    recipe: str | None,
    method: str | None,
    base_model: str | None,
    merge: bool | None,
    resume: bool | None,
    max_steps: int | None,
    epochs: float | None,
    lr: float | None,
    lora_r: int | None,
    target_modules: str | None,
    batch_size: int | None,
    effective_batch_size: int | None,
    max_length: int | None,
    precision: str | None,
    eval_steps: int | None,
    output_root: str | None,
    as_json: bool,
) -> None:
    """Fine-tune the base model on a dataset version's train split (early stopping on its validation split)."""
    from datagen.config import load_config, section_of
    from datagen.store.models import TrainRun
    from finetune.config import TrainConfig
    from finetune.trainer import train

    overrides: dict[str, Any] = {
        "dataset": dataset,
        "method": method,
        "base_model": base_model,
        "merge": merge,
        "resume": resume,
        "max_steps": max_steps,
        "num_train_epochs": epochs,
        "learning_rate": lr,
        "lora_r": lora_r,
        "target_modules": target_modules,
        "per_device_train_batch_size": batch_size,
        "effective_batch_size": effective_batch_size,
        "max_length": max_length,
        "precision": precision,
        "eval_steps": eval_steps,
        "output_root": output_root,
    }
    cfg = load_config(TrainConfig, recipe, overrides, section=section_of(recipe, "train"))
    store = store_from(ctx)
    tr_id = train(store, cfg)
    with store.session() as s:
        tr = s.get(TrainRun, tr_id)
        assert tr is not None
        out = {"train_run": tr.id, "run": tr.run_id, "status": tr.status, "method": tr.method, **tr.metrics}
    if as_json:
        echo_json(out)
        return
    data = out.get("data", {}).get("train", {})
    best = out["best_eval_loss"]
    click.echo(
        f"train run {tr_id} ({cfg.method}, {cfg.dataset}): {out['status']}, step {out['global_step']}/"
        f"{out['max_steps']}{' (stopped early)' if out['stopped_early'] else ''}, train loss "
        f"{out['train_loss']:.4f}, best validation loss {'-' if best is None else f'{best:.4f}'}"
    )
    click.echo(
        f"  {data.get('n')} training examples, {data.get('truncated')} truncated at {data.get('max_length')} "
        f"tokens; {out['tokens_per_second']} tokens/s; grad norm {out['grad_norm_min']:.3g}-{out['grad_norm_max']:.3g}"
    )
    click.echo(f"  adapter:    {out['adapter_path']}")
    click.echo(f"  loss curve: {out['loss_curve']}")
    if out.get("merged_path"):
        click.echo(f"  merged:     {out['merged_path']}")
    click.echo(f"next: datagen score --train-run {tr_id}")
