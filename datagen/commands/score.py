"""``datagen score``: a trained adapter against its base model on the held-out split (thin over ``finetune``)."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import config_from, echo_json, json_option, recipe_option, store_from
from datagen.commands.flags import Aliases, config_options
from datagen.console import result
from finetune.config import ScoreConfig


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


# ``--judge`` (a local judge model) and ``--judge-model`` (a provider's model) both name the judge's model.
ALIASES: Aliases = {"judge.model": "--judge", "report": "!--report"}


@click.command("score")
@config_options(ScoreConfig, aliases=ALIASES)
@recipe_option
@json_option
@click.pass_context
def score_cmd(ctx: click.Context, as_json: bool, **kw: Any) -> None:
    """Perplexity of reference answers, judged win-rate (positions swapped, 95% interval), stop check."""
    from finetune.score import run_score

    cfg = config_from(ScoreConfig, kw, "score", ALIASES)
    out = run_score(store_from(ctx), cfg).summary
    if as_json:
        echo_json(out)
        return
    _report(out)


def _report(out: dict[str, Any]) -> None:
    result(
        f"train run {out['train_run']} on {out['dataset']} ({out['split']}, n={out['n']}), judge {out['judge']}"
    )
    result(f"{'metric':<20} {'base':>9} {'tuned':>9}   95% interval")
    for metric, v in out["scores"].items():
        ci = f"{_fmt(v['ci_low'])} - {_fmt(v['ci_high'])}" if v["ci_low"] is not None else ""
        result(f"{metric:<20} {_fmt(v['base']):>9} {_fmt(v['tuned']):>9}   {ci}")
    wr = out["win_rate"]
    result(
        f"win-rate: {wr['wins']} wins, {wr['losses']} losses, {wr['ties']} ties (position-bound); "
        f"judge picked position A {wr['position_a_share']:.0%} of the time"
    )
    if out.get("soft_preference_mean") is not None:
        result(
            f"position-debiased preference for tuned (judge probabilities): {out['soft_preference_mean']:.3f}"
        )
    from finetune.report import POSITION_NOTE, position_bound

    if position_bound(wr["position_a_share"]):
        result(f"note: {POSITION_NOTE}")
    if out.get("report"):
        result(f"report: {out['report']}")
