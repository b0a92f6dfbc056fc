"""``datagen compare``: train dataset versions alike, score them on one eval set, report the differences."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import config_from, echo_json, json_option, recipe_option, store_from
from datagen.commands.flags import Aliases, config_options
from datagen.console import result
from finetune.config import CompareConfig

ALIASES: Aliases = {"datasets": "--dataset", "learning_rate": "--lr"}


@click.command("compare")
@config_options(CompareConfig, aliases=ALIASES)
@recipe_option
@json_option
@click.pass_context
def compare_cmd(ctx: click.Context, as_json: bool, **kw: Any) -> None:
    """What curation was worth: versions trained with the same base, seeds, steps and token budget, scored on
    the same eval set, differences with paired 95% intervals (--repeats K: the spread over K seeds)."""
    from finetune.compare import run_compare

    cfg = config_from(CompareConfig, kw, "compare", ALIASES)
    out = run_compare(store_from(ctx), cfg).summary
    if as_json:
        echo_json(out)
        return
    _report(out)


def _report(out: dict[str, Any]) -> None:
    from finetune.compare_report import verdict

    ev = out["eval"]
    result(f"compare run {out['run_id']} on eval set {ev['name']} ({ev['size']} items), "
           f"{out['repeats']} seed(s), at most {out['budget']['max_train_tokens']} training tokens per version")  # fmt: skip
    ref = out["reference"]
    for m, e in out["metrics"].items():
        for v, d in e["vs_reference"].items():
            lo, hi = d["diff_ci"]
            spread = (
                f", seeds {d['seed_min']:+.3f} .. {d['seed_max']:+.3f}" if d["seed_min"] is not None else ""
            )
            result(f"{m:<22} {v} - {ref}: {d['diff']:+.3f} (95% {lo:+.3f} to {hi:+.3f}{spread})")
    result(verdict(out))
    result(f"report: {out['report']}")
