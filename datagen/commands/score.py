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
ALIASES: Aliases = {"judge.model": "--judge"}


@click.command("score")
@config_options(ScoreConfig, aliases=ALIASES)
@recipe_option
@json_option
@click.pass_context
def score_cmd(ctx: click.Context, as_json: bool, **kw: Any) -> None:
    """Base vs tuned on an eval set: reference metrics with paired 95% intervals, overlap, judge (self-checked)."""
    from finetune.score import run_score

    cfg = config_from(ScoreConfig, kw, "score", ALIASES)
    out = run_score(store_from(ctx), cfg).summary
    if as_json:
        echo_json(out)
        return
    _report(out)


def _report(out: dict[str, Any]) -> None:
    ev, ov = out["eval"], out["eval"]["overlap"]
    result(
        f"train run {out['train_run']} ({out['dataset']}) on eval set {ev['name']} "
        f"(sha256 {ev['hash'][:12]}, {ev['size']} items, n={out['n']})"
    )
    dropped = " (dropped: --decontaminate)" if ev["decontaminated"] and ov["overlapping"] else ""
    result(f"overlap with the training data: {ov['overlapping']} of {ov['checked']} items{dropped}")
    result(f"{'metric':<22} {'base':>9} {'tuned':>9} {'tuned-base':>11}   95% interval of the difference")
    for metric, v in out["scores"].items():
        lo, hi = v["diff_ci"]
        mark = "  *" if v["distinguishable"] else ""
        result(
            f"{metric:<22} {_fmt(v['base']):>9} {_fmt(v['tuned']):>9} {v['diff']:>+11.3f}   "
            f"{lo:+.3f} to {hi:+.3f}{mark}"
        )
    result(out["verdict"])
    _judge(out)
    if out.get("report"):
        result(f"report: {out['report']}")


def _judge(out: dict[str, Any]) -> None:
    check, wr = out.get("judge_check"), out.get("win_rate")
    if check is None:
        return
    if not check["usable"]:
        result(f"judge {check['judge']} is unusable ({'; '.join(check['reasons'])}): no win-rate reported")
        return
    result(
        f"judge {check['judge']} passed its check (agreement {check['agreement']:.0%}, "
        f"consistency {check['consistency']:.0%})"
    )
    if wr is not None:
        result(
            f"win-rate of tuned: {wr['rate']:.3f} (95% {wr['ci_low']:.3f} - {wr['ci_high']:.3f}); "
            f"{wr['wins']} wins, {wr['losses']} losses, {wr['ties']} ties"
        )
