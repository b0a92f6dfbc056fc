"""``datagen score``: a trained adapter against its base model on the held-out split (thin over ``finetune``)."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import echo_json, json_option, store_from


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


@click.command("score")
@click.option("--train-run", "train_run", type=int, help="The train run to score (see `datagen runs`).")
@click.option("--recipe", help="YAML recipe (a ScoreConfig, or a pipeline recipe with a 'score' section).")
@click.option("--split", type=click.Choice(["test", "validation", "train"]), help="Split to score on (test).")
@click.option("--max-examples", type=int, help="Score a seeded sample of at most N examples (default 50).")
@click.option("--max-new-tokens", type=int, help="Answer length limit (default 128).")
@click.option("--judge", help="Local judge model (alias, path or id; default SmolLM2-135M).")
@click.option("--judge-provider", help="Judge through a provider instead (openai, anthropic, ...).")
@click.option("--judge-model", help="The provider's model name.")
@click.option("--batch-size", type=int, help="Batch size for perplexity, generation and the local judge.")
@click.option("--dtype", help="Compute dtype: float32 (default), bfloat16, auto.")
@click.option("--no-report", is_flag=True, help="Do not write report.md and its charts.")
@json_option
@click.pass_context
def score_cmd(
    ctx: click.Context,
    train_run: int | None,
    recipe: str | None,
    split: str | None,
    max_examples: int | None,
    max_new_tokens: int | None,
    judge: str | None,
    judge_provider: str | None,
    judge_model: str | None,
    batch_size: int | None,
    dtype: str | None,
    no_report: bool,
    as_json: bool,
) -> None:
    """Perplexity of reference answers, judged win-rate (positions swapped, 95% interval), stop check."""
    from datagen.config import load_config, section_of
    from finetune.config import ScoreConfig
    from finetune.score import score

    overrides: dict[str, Any] = {
        "train_run": train_run,
        "split": split,
        "max_examples": max_examples,
        "max_new_tokens": max_new_tokens,
        "judge": judge,
        "judge_provider": judge_provider,
        "judge_model": judge_model,
        "batch_size": batch_size,
        "dtype": dtype,
        "report": False if no_report else None,
    }
    cfg = load_config(ScoreConfig, recipe, overrides, section=section_of(recipe, "score"))
    out = score(store_from(ctx), cfg)
    if as_json:
        echo_json(out)
        return
    click.echo(
        f"train run {out['train_run']} on {out['dataset']} ({out['split']}, n={out['n']}), judge {out['judge']}"
    )
    click.echo(f"{'metric':<20} {'base':>9} {'tuned':>9}   95% interval")
    for metric, v in out["scores"].items():
        ci = f"{_fmt(v['ci_low'])} - {_fmt(v['ci_high'])}" if v["ci_low"] is not None else ""
        click.echo(f"{metric:<20} {_fmt(v['base']):>9} {_fmt(v['tuned']):>9}   {ci}")
    wr = out["win_rate"]
    click.echo(
        f"win-rate: {wr['wins']} wins, {wr['losses']} losses, {wr['ties']} ties (position-bound); "
        f"judge picked position A {wr['position_a_share']:.0%} of the time"
    )
    if out.get("soft_preference_mean") is not None:
        click.echo(
            f"position-debiased preference for tuned (judge probabilities): {out['soft_preference_mean']:.3f}"
        )
    from finetune.report import POSITION_NOTE, position_bound

    if position_bound(wr["position_a_share"]):
        click.echo(f"note: {POSITION_NOTE}")
    if out.get("report"):
        click.echo(f"report: {out['report']}")
