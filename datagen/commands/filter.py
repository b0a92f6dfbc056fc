"""``datagen filter``: run the filter chain over new records (or a run, or everything) and report."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import echo_json, json_option, store_from


def _table(summary: dict[str, Any]) -> str:
    head = f"{'filter':<12} {'backend':<34} {'scored':>7} {'reused':>7} {'passed':>7} {'failed':>7} {'ms/rec':>8}"
    lines = [head, "-" * len(head)]
    for name, st in summary["filters"].items():
        ms = "-" if st["ms_per_record"] is None else f"{st['ms_per_record']:.2f}"
        lines.append(
            f"{name:<12} {st['backend'][:34]:<34} {st['scored']:>7} {st['reused']:>7} {st['passed']:>7} "
            f"{st['failed']:>7} {ms:>8}"
        )
        for reason, n in st["dropped_by_reason"].items():
            lines.append(f"{'':<12}   dropped {reason}: {n}")
    return "\n".join(lines)


@click.command("filter")
@click.option("--run", "run_id", type=int, help="Filter the records of this run (any filterable status).")
@click.option("--all", "all_records", is_flag=True, help="Filter every filterable record, not only new ones.")
@click.option("--only", help="Comma-separated filters to run (default: the recipe's or all).")
@click.option(
    "--annotate-only", is_flag=True, default=None, help="Score and store verdicts; change no status."
)
@click.option("--rescore", is_flag=True, default=None, help="Score again records already scored by a filter.")
@click.option("--policy", type=click.Choice(["all", "majority", "any"]), help="Keep policy (default all).")
@click.option("--batch-size", type=int, help="Records per batch (one transaction each).")
@click.option("--limit", type=int, help="Filter at most this many records.")
@click.option("--recipe", help="YAML recipe (a FilterConfig, or a pipeline recipe with a 'filter' section).")
@click.option("--png", default="filter-run-{run_id}.png", show_default=True, help="Histogram PNG path.")
@click.option("--no-png", is_flag=True, help="Do not write the histogram PNG.")
@json_option
@click.pass_context
def filter_cmd(
    ctx: click.Context,
    run_id: int | None,
    all_records: bool,
    only: str | None,
    annotate_only: bool | None,
    rescore: bool | None,
    policy: str | None,
    batch_size: int | None,
    limit: int | None,
    recipe: str | None,
    png: str,
    no_png: bool,
    as_json: bool,
) -> None:
    """Score records with the filter chain (cheapest first), store every verdict, set candidate/filtered_out."""
    from datagen.config import load_config, section_of
    from datagen.errors import InputError
    from filters.chain import run_filters
    from filters.config import FilterConfig
    from filters.histogram import render

    if run_id is not None and all_records:
        raise InputError("use either --run ID or --all, not both")
    overrides: dict[str, Any] = {
        "annotate_only": annotate_only,
        "rescore": rescore,
        "policy": policy,
        "batch_size": batch_size,
        "limit": limit,
        "histogram_png": None if no_png else png,
        "filters": None if only is None else [n.strip() for n in only.split(",") if n.strip()],
        "scope": "run" if run_id is not None else ("all" if all_records else None),
        "run_id": run_id,
    }
    cfg = load_config(FilterConfig, recipe, overrides, section=section_of(recipe, "filter"))
    store = store_from(ctx)
    summary = run_filters(store, cfg, notify=lambda m: click.echo(f"note: {m}", err=True))
    if as_json:
        echo_json(summary)
        return
    click.echo(
        f"filter run {summary['run_id']}: {summary['records']} records, kept {summary['kept']}, "
        f"dropped {summary['dropped']}" + (" (annotate-only: no status changed)" if cfg.annotate_only else "")
    )
    click.echo(_table(summary))
    for name, st in summary["filters"].items():
        click.echo(render(name, st["histogram"]))
    if summary.get("histogram_png"):
        click.echo(f"histograms: {summary['histogram_png']}")
