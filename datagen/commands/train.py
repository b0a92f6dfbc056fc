"""``datagen train``: fine-tune a LoRA/QLoRA adapter on a dataset version (thin over ``finetune.trainer``)."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import config_from, echo_json, json_option, recipe_option, store_from
from datagen.commands.flags import Aliases, config_options
from datagen.console import result
from datagen.errors import InputError
from finetune.config import TrainConfig

# Today's short names for the long TrainConfig fields.
ALIASES: Aliases = {
    "num_train_epochs": "--epochs",
    "learning_rate": "--lr",
    "per_device_train_batch_size": "--batch-size",
    "per_device_eval_batch_size": "--eval-batch-size",
}


@click.command("train")
@config_options(TrainConfig, aliases=ALIASES)
@recipe_option
@json_option
@click.option(
    "--num-processes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="train on N processes with DDP (one per GPU; gloo on CPUs): runs this training under "
    "`accelerate launch`; rank 0 alone writes the run, the adapter and the card",
)
@click.pass_context
def train_cmd(ctx: click.Context, as_json: bool, num_processes: int, **kw: Any) -> None:
    """Fine-tune the base model on a dataset version's train split (early stopping on its validation split)."""
    from finetune.distributed import World
    from finetune.trainer import follow, run_train

    cfg = config_from(TrainConfig, kw, "train", ALIASES)
    world = World.from_env()
    if world.size > 1 and num_processes not in (1, world.size):
        raise InputError(f"--num-processes {num_processes} inside a launched world of {world.size} processes")
    if world.size == 1 and num_processes > 1:
        ctx.exit(_relaunch(ctx, cfg, num_processes, as_json))
    if not world.main:
        follow(cfg)  # a rank other than 0: trains its share, opens no database, prints nothing
        return
    res = run_train(store_from(ctx), cfg)
    if as_json:
        echo_json(res.summary)
        return
    _report(cfg, res.summary, res.outputs)


def _relaunch(ctx: click.Context, cfg: TrainConfig, n: int, as_json: bool) -> int:
    """This training on ``n`` processes under ``accelerate launch``, its input checked first (exit 2 before
    any process starts); returns the launcher's exit code."""
    from finetune.convert import Hardware
    from finetune.distributed import relaunch
    from finetune.trainer import preflight

    preflight(store_from(ctx), cfg)
    db = (ctx.find_root().obj or {}).get("db")
    return relaunch(cfg, n, db, Hardware.detect(cfg.device).cuda, ["--json"] if as_json else [])


def _report(cfg: TrainConfig, out: dict[str, Any], files: dict[str, str]) -> None:
    data = out.get("data", {}).get("train", {})
    best = out["best_eval_loss"]
    result(
        f"train run {out['train_run']} ({cfg.method}, {cfg.dataset}): {out['status']}, step {out['global_step']}/"
        f"{out['max_steps']}{' (stopped early)' if out['stopped_early'] else ''}, train loss "
        f"{out['train_loss']:.4f}, best validation loss {'-' if best is None else f'{best:.4f}'}"
    )
    result(
        f"  {data.get('n')} training examples, {data.get('truncated')} truncated at {data.get('max_length')} "
        f"tokens; {out['tokens_per_second']} tokens/s; grad norm {out['grad_norm_min']:.3g}-{out['grad_norm_max']:.3g}"
    )
    for name, path in files.items():
        result(f"  {name + ':':<11} {path}")
    result(f"next: datagen score --train-run {out['train_run']}")
