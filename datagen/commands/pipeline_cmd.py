"""``datagen pipeline``: the whole loop from seeds to a scored model, resumable at every stage."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import echo_json, json_option, store_from


@click.command("pipeline")
@click.option(
    "--recipe", default="default", show_default=True, help="Recipe file, or an embedded recipe name."
)
@click.option("--review", "review_mode", type=click.Choice(["interactive", "auto"]),
              help="interactive (default): review the sample in the terminal; auto: automatic decisions, "
                   "recorded as not human.")  # fmt: skip
@click.option("--name", help="Override the recipe's name (the dataset name and the output folder).")
@json_option
@click.pass_context
def pipeline_cmd(
    ctx: click.Context, recipe: str, review_mode: str | None, name: str | None, as_json: bool
) -> None:
    """Seeds → Self-Instruct → Evol-Instruct → filter → review → dataset → export → train → score.

    Rerunning the same recipe continues where the last run stopped.
    """
    from datagen.config import load_config
    from datagen.pipeline import PipelineConfig, run_pipeline

    cfg = load_config(PipelineConfig, recipe, {"name": name})
    if review_mode:
        cfg.review = {**cfg.review, "mode": "auto" if review_mode == "auto" else "human"}
    result = run_pipeline(store_from(ctx), cfg, echo=lambda m: click.echo(m, err=True))
    if as_json:
        echo_json(result)
        return
    _summary(result, cfg.out())


def _summary(result: dict[str, Any], out: Any) -> None:
    st = result["stages"]
    si, ev, ds, tr, sc = st["self_instruct"], st["evol"], st["dataset"], st["train"], st["score"]
    click.echo(f"\npipeline run {result['run_id']} finished. Outputs:")
    click.echo(f"  database:      {result['database']}  (datagen runs / stats / show RECORD)")
    click.echo(f"  generation:    self-instruct run {si['run_id']}, evol run {ev['run_id']}")
    click.echo(
        f"  review sample: {st['review']['sample_id']}  (datagen review stats --sample {st['review']['sample_id']})"
    )
    click.echo(f"  dataset:       {ds['ref']}  (datagen dataset show {ds['ref']})")
    for fmt, folder in st["export"].items():
        if not fmt.endswith("_files"):
            click.echo(f"  export {fmt:<7} {folder}")
    click.echo(f"  adapter:       {tr.get('adapter')}")
    if sc.get("report"):
        click.echo(f"  report:        {sc['report']}")
    click.echo(f"\nbase vs tuned on the held-out {sc['split']} split (n={sc['n']}):")
    for metric, v in sc["scores"].items():
        ci = f"  (tuned 95% CI {v['ci_low']:.2f}–{v['ci_high']:.2f})" if v.get("ci_low") is not None else ""
        click.echo(f"  {metric:<20} base {_f(v['base'])}  tuned {_f(v['tuned'])}{ci}")
    from finetune.report import POSITION_NOTE, position_bound

    if position_bound(sc["win_rate"].get("position_a_share")):
        click.echo(f"  note: {POSITION_NOTE}")
    click.echo(
        "\nNote: the embedded recipe's 135M teacher makes the machinery run end to end; it does not write good data."
        "\nPoint the recipe at an API or a bigger local model for real work (see README, 'Recipes')."
    )


def _f(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
