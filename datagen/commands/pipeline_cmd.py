"""``datagen pipeline``: the whole loop from seeds to a scored model, resumable at every stage."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import config_from, echo_json, json_option, store_from
from datagen.commands.flags import Aliases, config_options
from datagen.console import result as out
from datagen.pipeline_config import PipelineConfig

# ``--review interactive|auto`` (today's flag) sets the review section's mode; the section itself is
# ``--review-option KEY=VALUE`` like the other sections (``--train max_steps=2``).
ALIASES: Aliases = {"review": "!--review-option"}
REVIEW_MODES = {"interactive": "human", "auto": "auto"}


@click.command("pipeline")
@config_options(PipelineConfig, aliases=ALIASES)
@click.option(
    "--recipe", default="default", show_default=True, help="Recipe file, or an embedded recipe name."
)
@click.option("--review", "review_mode", type=click.Choice(list(REVIEW_MODES)),
              help="interactive (default): review the sample in the terminal; auto: automatic decisions, "
                   "recorded as not human.")  # fmt: skip
@json_option
@click.pass_context
def pipeline_cmd(ctx: click.Context, review_mode: str | None, as_json: bool, **kw: Any) -> None:
    """Seeds → Self-Instruct → Evol-Instruct → filter → review → dataset → export → train → score.

    Rerunning the same recipe continues where the last run stopped.
    """
    from datagen.pipeline import run_pipeline

    mode = {"review": {"mode": REVIEW_MODES[review_mode]}} if review_mode else {}
    cfg = config_from(PipelineConfig, kw, None, ALIASES, **mode)
    result = run_pipeline(store_from(ctx), cfg)
    if as_json:
        echo_json(result)
        return
    _summary(result)


def _summary(result: dict[str, Any]) -> None:
    st = result["stages"]
    si, ev, ds, tr, sc = st["self_instruct"], st["evol"], st["dataset"], st["train"], st["score"]
    out(f"\npipeline run {result['run_id']} finished. Outputs:")
    out(f"  database:      {result['database']}  (datagen runs / stats / show RECORD)")
    out(f"  generation:    self-instruct run {si['run_id']}, evol run {ev['run_id']}")
    out(
        f"  review sample: {st['review']['sample_id']}  (datagen review stats --sample {st['review']['sample_id']})"
    )
    out(f"  dataset:       {ds['ref']}  (datagen dataset show {ds['ref']})")
    for fmt, folder in st["export"].items():
        if not fmt.endswith("_files"):
            out(f"  export {fmt:<7} {folder}")
    out(f"  adapter:       {tr.get('adapter')}")
    if sc.get("report"):
        out(f"  report:        {sc['report']}")
    ev = sc["eval"]
    out(
        f"\nbase vs tuned on eval set {ev['name']} (n={sc['n']}; {ev['overlap']['overlapping']} overlap training):"
    )
    for metric, v in sc["scores"].items():
        lo, hi = v["diff_ci"]
        out(f"  {metric:<22} base {_f(v['base'])}  tuned {_f(v['tuned'])}  tuned-base {v['diff']:+.3f} "
            f"(95% {lo:+.3f} to {hi:+.3f})")  # fmt: skip
    out(f"  {sc['verdict']}")
    check = sc.get("judge_check")
    if check and not check["usable"]:
        out(f"  judge {check['judge']} is unusable ({'; '.join(check['reasons'])}): no win-rate reported")
    elif sc.get("win_rate"):
        wr = sc["win_rate"]
        out(f"  judged win-rate of tuned {wr['rate']:.3f} (95% {wr['ci_low']:.3f} - {wr['ci_high']:.3f})")
    out(
        "\nNote: the embedded recipe's 135M teacher makes the machinery run end to end; it does not write good data."
        "\nPoint the recipe at an API or a bigger local model for real work (see README, 'Recipes')."
    )


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
