"""``datagen filter``: run the filter chain over new records (or a run, or everything) and report."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import config_from, echo_json, json_option, recipe_option, store_from
from datagen.commands.flags import Aliases, config_options
from datagen.console import result
from filters.config import FilterConfig


def _table(summary: dict[str, Any]) -> str:
    head = f"{'filter':<12} {'backend':<34} {'scored':>7} {'reused':>7} {'passed':>7} {'failed':>7} {'ms/rec':>8}"
    lines = [head, "-" * len(head)]
    for name, st in summary["filters"].items():
        ms = "-" if st["ms_per_record"] is None else f"{st['ms_per_record']:.2f}"
        lines.append(
            f"{name:<12} {st['backend'][:34]:<34} {st['scored']:>7} {st['reused']:>7} {st['passed']:>7} "
            f"{st['failed']:>7} {ms:>8}"
        )
        for reason, n in st["failed_by_reason"].items():
            lines.append(f"{'':<12}   failed {reason}: {n}")
    return "\n".join(lines)


ALIASES: Aliases = {
    "filters": "--only",
    "run_id": "--run",
    "histogram_png": "--png",
    "ray_address": "--address",
    "--all": ("scope", "all"),
    "--no-png": ("histogram_png", ""),
}


@click.command("filter")
@config_options(FilterConfig, aliases=ALIASES)
@recipe_option
@json_option
@click.pass_context
def filter_cmd(ctx: click.Context, as_json: bool, **kw: Any) -> None:
    """Score records with the filter chain (cheapest first), store every verdict, set candidate/filtered_out."""
    from filters.chain import run_filter
    from filters.histogram import render

    cfg = config_from(FilterConfig, kw, "filter", ALIASES)
    summary = run_filter(store_from(ctx), cfg).summary
    if as_json:
        echo_json(summary)
        return
    result(
        f"filter run {summary['run_id']}: {summary['records']} records, kept {summary['kept']}, "
        f"dropped {summary['dropped']}"
        + (" (annotate-only: no status changed)" if cfg.annotate_only else "")
        + (" (scored on Ray)" if cfg.executor == "ray" else "")
    )
    if summary["models"]:
        result("models: " + "; ".join(f"{m} on {where}" for m, where in summary["models"].items()))
    result(_table(summary))
    for name, st in summary["filters"].items():
        result(render(name, st["histogram"]))
    if summary.get("histogram_png"):
        result(f"histograms: {summary['histogram_png']}")
