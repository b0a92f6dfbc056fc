"""``datagen dataset create/list/show``: versioned, gated, leak-free datasets of approved records."""

from __future__ import annotations

from typing import Any

import click

from datagen.commands.common import config_from, echo_json, json_option, recipe_option, store_from
from datagen.commands.flags import Aliases, config_options
from datagen.commands.group import Group
from datagen.console import result
from datagen.datasets.config import DatasetConfig


@click.group("dataset", cls=Group)
def dataset_cmd() -> None:
    """Versioned datasets: create (gated by review), list, show."""


def _parse_from(value: str | None) -> tuple[int | None, str | None]:
    """``--from``: ``run:N`` or ``N`` (a run), ``dataset:NAME[@V]`` or ``NAME@V`` (a dataset version)."""
    from datagen.errors import InputError

    if value is None:
        return None, None
    kind, _, rest = value.partition(":")
    if rest and kind == "run" and rest.isdigit():
        return int(rest), None
    if rest and kind == "dataset":
        return None, rest
    if value.isdigit():
        return int(value), None
    if "@" in value and ":" not in value:
        return None, value
    raise InputError(f"--from {value!r}: use run:N, N, dataset:NAME[@VERSION] or NAME@VERSION")


ALIASES: Aliases = {"--reviewed-only": ("include_unreviewed", False)}


@dataset_cmd.command("create")
@config_options(DatasetConfig, aliases=ALIASES, arguments=("name",))
@click.option("--from", "source", help="run:N (default: every record) or dataset:NAME[@VERSION].")
@recipe_option
@json_option
@click.pass_context
def create_cmd(ctx: click.Context, source: str | None, as_json: bool, **kw: Any) -> None:
    """Freeze approved records (kept, not rejected, edits applied) as the next version of NAME."""
    from datagen.datasets.create import run_dataset

    run, src = _parse_from(source)
    cfg = config_from(DatasetConfig, kw, "dataset", ALIASES, run=run, source_dataset=src)
    info = run_dataset(store_from(ctx), cfg).summary
    if as_json:
        echo_json(info)
        return
    c = info["counts"]
    result(f"created {info['ref']}: {c['total']} records, splits {c['splits']}, {c['clusters']} clusters")
    if info["forced"]:
        result("FORCED past the review gate: " + "; ".join(info["gate"]["failures"]))


@dataset_cmd.command("list")
@json_option
@click.pass_context
def list_cmd(ctx: click.Context, as_json: bool) -> None:
    """Every dataset version with its size, splits and gate."""
    from datagen.datasets.catalog import list_datasets

    rows = list_datasets(store_from(ctx))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        result("no datasets yet: `datagen dataset create NAME --from run:N`")
    for r in rows:
        gate = "forced" if r["forced"] else ("gate ok" if r["gate_passed"] else "gate failed")
        result(
            f"{r['name']}@{r['version']}\t{r['records']} records\t{r['splits']}\t{gate}\t{r['created_at']}"
        )


@dataset_cmd.command("show")
@click.argument("ref")
@json_option
@click.pass_context
def show_cmd(ctx: click.Context, ref: str, as_json: bool) -> None:
    """One dataset version (REF = NAME or NAME@VERSION): counts, source, gate."""
    import json

    from datagen.datasets.catalog import show_dataset

    info = show_dataset(store_from(ctx), ref)
    if as_json:
        echo_json(info)
        return
    result(f"{info['name']}@{info['version']} (run {info['run_id']}, {info['created_at']})")
    result(f"forced: {info['forced']}; gate passed: {info['gate'].get('passed')}")
    for f in info["gate"].get("failures", []):
        result(f"  gate failure: {f}")
    result("counts: " + json.dumps(info["counts"]))
    result("source: " + json.dumps(info["source"], default=str))
    for sc in info["scores"]:
        shown = [f"{m} {v['base']:.3f}->{v['tuned']:.3f}" for m, v in sc["metrics"].items()
                 if m in ("perplexity", "rouge_l", "accuracy") and v["base"] is not None]  # fmt: skip
        result(f"score run {sc['score_run']} (train run {sc['train_run']}, {sc['eval_set']}, n={sc['n']}): "
               + ", ".join(shown))  # fmt: skip
